package methodkit

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
)

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
		leaf := nn.Leaf(x)
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
		g, err := nn.Grad(leaf)
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
