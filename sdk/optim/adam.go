package optim

import (
	"github.com/selfsup/selfsup/sdk/backend"
)

// adam is PyTorch's Adam (L2 decay added to the gradient) or, decoupled,
// AdamW (p *= 1 - lr*wd before the Adam step), run as one fused native call.
type adam struct {
	base
	b1, b2, eps float64
	decoupled   bool
}

func (a *adam) Step() error {
	a.steps++
	return backend.AdamStep(a.tensors(), a.slots("exp_avg"), a.slots("exp_avg_sq"), a.noDecay(),
		a.lr, a.b1, a.b2, a.eps, a.wd, a.decoupled, a.steps)
}
