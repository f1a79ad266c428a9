package nn

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Autograd pins the calling goroutine to its OS thread and turns libtorch's
// thread-local grad mode on; the returned func restores the previous mode and
// unpins. Wrap every forward/backward pass in it:
//
//	defer nn.Autograd()()
func Autograd() (restore func()) { return gradMode(true) }

// NoGrad runs fn with libtorch's grad mode off on a pinned OS thread and
// restores the previous mode afterwards (tensor.NoGrad).
func NoGrad(fn func()) { tensor.NoGrad(fn) }

func gradMode(on bool) func() {
	runtime.LockOSThread()
	prev := backend.GradEnabled() // gotch's GradSetEnabled misreports the previous mode
	backend.SetGradEnabled(on)
	return func() {
		backend.SetGradEnabled(prev)
		runtime.UnlockOSThread()
	}
}

// Leaf returns a view of x that shares its storage, is detached from any
// graph x belongs to, and requires grad: back-propagating into it leaves x
// and x's graph alone, and its .grad is d loss / d x. The caller drops the
// view (x stays valid).
func Leaf(x *ts.Tensor) *ts.Tensor {
	l := x.MustDetach(false)
	if err := setRequiresGrad(l, true); err != nil {
		panic(err) // a detached float tensor can always require grad
	}
	return l
}

// Grad returns a new handle to the gradient accumulated in leaf, or zeros of
// leaf's shape when no gradient reached it. The caller owns the result.
func Grad(leaf *ts.Tensor) (*ts.Tensor, error) {
	g, err := leaf.Grad(false)
	if err != nil {
		return nil, fmt.Errorf("read gradient: %w", err)
	}
	if g.MustDefined() {
		return g, nil
	}
	g.MustDrop()
	return leaf.MustZerosLike(false), nil
}
