package nn

import (
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// gotch's in-place methods (Tensor.Xxx_) replace the receiver's C handle
// with the new one libtorch returns and never free the old handle, which
// keeps the tensor's storage alive: a temporary updated in place is never
// freed. This package therefore updates tensors with out-of-place ops plus
// Copy_ (which returns no handle), or through the helpers below, which call
// the binding themselves and free the extra handle.

func inPlace(name string, op func(out *lib.Ctensor)) error { return tensor.InPlace(name, op) }

func ctensor(t *ts.Tensor) lib.Ctensor { return tensor.C(t) }

// setRequiresGrad marks t (in place) as requiring grad or not.
func setRequiresGrad(t *ts.Tensor, on bool) error {
	v := int32(0)
	if on {
		v = 1
	}
	return inPlace("requires_grad_", func(out *lib.Ctensor) { lib.AtgRequiresGrad_(out, ctensor(t), v) })
}

// assign copies src into dst in place, outside autograd (through a detached
// view of dst), and drops src.
func assign(dst, src *ts.Tensor) {
	dv := dst.MustDetach(false)
	dv.Copy_(src)
	dv.MustDrop()
	src.MustDrop()
}
