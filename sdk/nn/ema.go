package nn

import (
	"fmt"
	"math"
	"slices"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Buffers says what EMA does with variables that are not parameters
// (BatchNorm running statistics and batch counts).
type Buffers int

const (
	// KeepBuffers leaves the target's buffers to its own forward passes, as
	// MoCo's and lightly's momentum encoders do.
	KeepBuffers Buffers = iota
	// CopyBuffers copies the online buffers into the target, so a target used
	// in eval mode normalises with statistics that fit the weights it tracks.
	CopyBuffers
)

// EMA moves every parameter of target toward the online parameter of the
// same name — target = m·target + (1 − m)·online — in one fused native call
// outside autograd, and treats buffers as the rule says. Parameters are the
// variables online trains (they require grad); online may hold more than
// target (a predictor the target lacks).
func EMA(target, online *gnn.VarStore, m float64, buffers Buffers) error {
	if math.IsNaN(m) || m < 0 || m > 1 {
		return fmt.Errorf("ema momentum %v outside [0, 1]: use a coefficient such as 0.99 or 0.996", m)
	}
	src := online.Variables()
	var tp, op, tb, ob []*ts.Tensor
	for name, t := range target.Variables() {
		o, ok := src[name]
		if !ok {
			return fmt.Errorf("ema: online has no variable %q; build the target as a copy of the online module", name)
		}
		if !slices.Equal(t.MustSize(), o.MustSize()) || t.DType() != o.DType() {
			return fmt.Errorf("ema: %s is %v %v in the target, %v %v online", name, t.DType(), t.MustSize(), o.DType(), o.MustSize())
		}
		tt, oo := t, o
		if o.MustRequiresGrad() {
			tp, op = append(tp, &tt), append(op, &oo)
		} else if buffers == CopyBuffers {
			tb, ob = append(tb, &tt), append(ob, &oo)
		}
	}
	if err := backend.EMA(tp, op, m); err != nil {
		return err
	}
	return backend.Copy(tb, ob)
}

// Freeze makes every variable of vs stop requiring grad (an EMA target).
func Freeze(vs *gnn.VarStore) error {
	for name, v := range vs.Variables() {
		if err := setRequiresGrad(&v, false); err != nil {
			return fmt.Errorf("freeze %s: %w", name, err)
		}
	}
	return nil
}

// SetRequiresGrad switches params' requires_grad (PyTorch's
// set_requires_grad(net, on)): a network that only passes a gradient on to
// its input (a GAN's discriminator in the generator's step) then computes
// none for its own weights.
func SetRequiresGrad(params []*ts.Tensor, on bool) error {
	for i, p := range params {
		if err := setRequiresGrad(p, on); err != nil {
			return fmt.Errorf("parameter %d: %w", i, err)
		}
	}
	return nil
}

// CopyVars copies every variable (parameters and buffers) of src into the
// variable of the same name and shape in dst.
func CopyVars(dst, src *gnn.VarStore) error {
	s := src.Variables()
	for name, d := range dst.Variables() {
		x, ok := s[name]
		if !ok {
			return fmt.Errorf("copy variables: source has no %q", name)
		}
		if err := CopyValues(&d, &x, name); err != nil {
			return err
		}
	}
	return nil
}

// CopyValues copies src's values into dst in place, outside autograd,
// after checking that shape and dtype agree (name is for the message).
func CopyValues(dst, src *ts.Tensor, name string) error {
	ds, ss := dst.MustSize(), src.MustSize()
	if fmt.Sprint(ds) != fmt.Sprint(ss) {
		return fmt.Errorf("variable %q: shape %v, saved %v", name, ds, ss)
	}
	if dst.DType() != src.DType() {
		return fmt.Errorf("variable %q: dtype %v, saved %v", name, dst.DType(), src.DType())
	}
	dv := dst.MustDetach(false)
	defer dv.MustDrop()
	dv.Copy_(src)
	return nil
}

// NumParams counts the trainable scalars of vs.
func NumParams(vs *gnn.VarStore) int64 {
	var n int64
	for _, v := range vs.Variables() {
		if v.MustRequiresGrad() {
			n += tensor.Numel(v.MustSize())
		}
	}
	return n
}
