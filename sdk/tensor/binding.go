package tensor

import (
	"fmt"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// gotch's generated Go bindings allocate each op's result cell with
// C.malloc and never free it, and its in-place methods (Tensor.Xxx_) replace
// the receiver's handle without freeing the old one, which keeps the
// tensor's storage alive. Call and InPlace call gotch's C bindings directly,
// with the result cell on the Go side and the extra handle of an in-place op
// freed at once.

// Call runs a libtorch op (a gotch C binding) that writes one new tensor
// handle to out, and wraps the handle; op names the op in errors.
func Call(op string, f func(out *lib.Ctensor)) (*ts.Tensor, error) {
	var out lib.Ctensor
	f(&out)
	if err := ts.TorchErr(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return ts.New(out), nil
}

// InPlace runs an in-place libtorch op (a gotch C binding) and frees the
// extra handle to its (unchanged) receiver that the op returns.
func InPlace(op string, f func(out *lib.Ctensor)) error {
	var out lib.Ctensor
	f(&out)
	if err := ts.TorchErr(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if out != nil {
		lib.AtFree(out)
	}
	return nil
}

// C is the tensor's handle for gotch's C bindings.
func C(x *ts.Tensor) lib.Ctensor { return lib.Ctensor(x.Ctensor()) }
