package method

import "slices"

// LossInput is one evaluation of a method's loss, in the terms of the
// conformance cases: float inputs and integer inputs by role, params, and
// the roles that receive no gradient.
type LossInput struct {
	// Inputs are the float tensors by role (float64 for conformance,
	// float32 in training). Loss must not modify or free them.
	Inputs Tensors
	// IntInputs are int64 tensors by role (indices, labels); never
	// differentiated.
	IntInputs Tensors
	// Params are the hyper-parameters and state scalars of the case.
	Params Params
	// Detached lists the inputs that receive no gradient.
	Detached []string
}

// IsDetached reports whether role receives no gradient.
func (in LossInput) IsDetached(role string) bool {
	return slices.Contains(in.Detached, role)
}

// LossOutput is the result of a Loss call. The caller owns (and frees) its
// tensors.
type LossOutput struct {
	// Loss is the scalar loss.
	Loss float64
	// Grads holds d Loss / d input for every non-detached float input.
	Grads Tensors
	// State holds state tensors after the step (queues, pointers, centres,
	// memory banks) and auxiliary per-element outputs.
	State Tensors
}

// Drop frees the output's tensors.
func (o LossOutput) Drop() {
	o.Grads.Drop()
	o.State.Drop()
}
