package methodkit

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
)

// Loss is a method's loss on the roles of its section of the conformance
// METHODS.md: a pure function of role-named tensors and params, so golden
// vectors test it directly. The kit makes leaves of the non-detached float
// roles, runs Fn, back-propagates and returns d loss / d role, then runs
// State (without gradient) for the state a case expects after the step.
type Loss[C any] struct {
	// Roles are the float inputs the loss reads; every one must be given.
	Roles []string
	// Optional are float inputs the loss reads when they are given (a
	// variant's extra roles: SwAV's queue); Fn finds the ones given in r.
	Optional []string
	// Fn computes the scalar loss from the roles (float leaves and the
	// case's int64 inputs by role), the config decoded from the method's
	// defaults overlaid with the case's params, and the raw params (state
	// scalars such as a queue pointer). It must build the loss from
	// libtorch ops on the given tensors and must not free them; it may
	// return an error for inputs of the wrong shape.
	Fn func(r method.Tensors, c *C, p method.Params) (*ts.Tensor, error)
	// State, when set, returns the state tensors after the step (an
	// enqueued queue, a new centre), computed without gradient from
	// detached roles. The caller owns them.
	State func(r method.Tensors, c *C, p method.Params) (method.Tensors, error)
}

func (l *Loss[C]) eval(name string, in method.LossInput) (out method.LossOutput, err error) {
	var cfg C
	if err := Decode(name+" loss", in.Params, &cfg, false); err != nil {
		return out, err
	}
	defer nn.Autograd()()
	names := l.Roles
	for _, r := range l.Optional {
		if _, ok := in.Inputs[r]; ok {
			names = append(names[:len(names):len(names)], r)
		}
	}
	leaves, err := NewLeaves(in, names...)
	if err != nil {
		return out, fmt.Errorf("%s loss: %w", name, err)
	}
	defer leaves.Drop()
	roles := method.Tensors{}
	for k, x := range in.IntInputs {
		roles[k] = x
	}
	for _, r := range names {
		roles[r] = leaves.T(r)
	}
	loss, err := l.Fn(roles, &cfg, in.Params)
	if err != nil {
		return out, fmt.Errorf("%s loss: %w", name, err)
	}
	if loss == nil {
		return out, fmt.Errorf("%s loss: the loss function returned no loss", name)
	}
	defer loss.MustDrop()
	if n := loss.Numel(); n != 1 {
		return out, fmt.Errorf("%s loss: the loss function returned %d values, want a scalar", name, n)
	}
	v := nn.Item(loss)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return out, fmt.Errorf("%s loss: the loss is %v; check the inputs", name, v)
	}
	if err := loss.Backward(); err != nil {
		return out, fmt.Errorf("%s loss: backward: %w", name, err)
	}
	grads, err := leaves.Grads()
	if err != nil {
		return out, fmt.Errorf("%s loss: %w", name, err)
	}
	state := method.Tensors{}
	if l.State != nil {
		detached := method.Tensors{}
		nn.NoGrad(func() {
			for k, x := range roles {
				detached[k] = x.MustDetach(false)
			}
			state, err = l.State(detached, &cfg, in.Params)
		})
		for _, x := range detached {
			x.MustDrop()
		}
		if err != nil {
			grads.Drop()
			return out, fmt.Errorf("%s loss: state: %w", name, err)
		}
	}
	return method.LossOutput{Loss: v, Grads: grads, State: state}, nil
}
