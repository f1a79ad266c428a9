package optim

import (
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// adam is PyTorch's Adam (L2 decay added to the gradient) or, decoupled,
// AdamW (p *= 1 - lr*wd before the Adam step).
type adam struct {
	base
	b1, b2, eps float64
	decoupled   bool
}

func (a *adam) Step() error {
	a.steps++
	bc1 := 1 - math.Pow(a.b1, float64(a.steps))
	bc2 := 1 - math.Pow(a.b2, float64(a.steps))
	var err error
	tensor.NoGrad(func() {
		for i, p := range a.params {
			wd := a.wd
			if a.decoupled {
				wd = 0
			}
			g := a.grad(p, wd)
			if g == nil {
				continue
			}
			if a.decoupled && a.wd != 0 && !p.NoDecay {
				p.T.MustMulScalar_(ts.FloatScalar(1 - a.lr*a.wd))
			}
			m := a.slot("exp_avg", i)
			v := a.slot("exp_avg_sq", i)
			// m = b1*m + (1-b1)*g ; v = b2*v + (1-b2)*g*g
			m.MustMulScalar_(ts.FloatScalar(a.b1))
			gs := g.MustMulScalar(ts.FloatScalar(1-a.b1), false)
			m.MustAdd_(gs)
			gs.MustDrop()
			v.MustMulScalar_(ts.FloatScalar(a.b2))
			g2 := g.MustMul(g, false)
			g2.MustMulScalar_(ts.FloatScalar(1 - a.b2))
			v.MustAdd_(g2)
			g2.MustDrop()
			g.MustDrop()
			// p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
			denom := v.MustSqrt(false)
			denom.MustDivScalar_(ts.FloatScalar(math.Sqrt(bc2)))
			denom.MustAddScalar_(ts.FloatScalar(a.eps))
			upd := m.MustDiv(denom, false)
			upd.MustMulScalar_(ts.FloatScalar(a.lr / bc1))
			p.T.MustSub_(upd)
			upd.MustDrop()
			denom.MustDrop()
		}
		err = ts.TorchErr()
	})
	return err
}
