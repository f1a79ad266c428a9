package nn

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
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

// Leaves makes a Leaf for each non-detached float input of a loss and keeps
// the detached ones as they are, so a Loss can evaluate on Tensors() and,
// after one backward pass, collect Grads().
type Leaves struct {
	all    method.Tensors
	leaves method.Tensors
}

// NewLeaves prepares the roles of in (all must be present) for a loss.
func NewLeaves(in method.LossInput, roles ...string) (*Leaves, error) {
	l := &Leaves{all: method.Tensors{}, leaves: method.Tensors{}}
	for _, r := range roles {
		x, err := in.Inputs.Get(r)
		if err != nil {
			l.Drop()
			return nil, fmt.Errorf("loss input: %w; pass every role of the method's section in METHODS.md", err)
		}
		if in.IsDetached(r) {
			l.all[r] = x
			continue
		}
		leaf := Leaf(x)
		l.all[r] = leaf
		l.leaves[r] = leaf
	}
	return l, nil
}

// T returns the tensor to compute with for role.
func (l *Leaves) T(role string) *ts.Tensor { return l.all[role] }

// Grads returns d loss / d input for every non-detached role, after the
// caller ran backward once. The caller owns the result.
func (l *Leaves) Grads() (method.Tensors, error) {
	out := method.Tensors{}
	for r, leaf := range l.leaves {
		g, err := Grad(leaf)
		if err != nil {
			out.Drop()
			return nil, fmt.Errorf("gradient of %s: %w", r, err)
		}
		out[r] = g
	}
	return out, nil
}

// Drop frees the leaf views (not the caller's inputs).
func (l *Leaves) Drop() {
	for _, x := range l.leaves {
		x.MustDrop()
	}
	clear(l.leaves)
	clear(l.all)
}
