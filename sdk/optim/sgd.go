package optim

import (
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// sgd is PyTorch's SGD with momentum (dampening 0, optional Nesterov) and,
// with lars set, LARS: before the momentum step the (decayed) gradient of
// every parameter that is not NoDecay is scaled by the trust ratio
// eta·‖p‖/‖g‖ (solo-learn's LARS, exclude_bias_n_norm).
type sgd struct {
	base
	momentum float64
	nesterov bool
	lars     bool
	eta      float64
}

func (s *sgd) Step() error {
	s.steps++
	var err error
	tensor.NoGrad(func() {
		for i, p := range s.params {
			g := s.grad(p, s.wd)
			if g == nil {
				continue
			}
			if s.lars && !p.NoDecay {
				pn := p.T.MustNorm(false).Float64Values(true)[0]
				gn := g.MustNorm(false).Float64Values(true)[0]
				if pn > 0 && gn > 0 {
					g.MustMulScalar_(ts.FloatScalar(s.eta * pn / gn))
				}
			}
			if s.momentum != 0 {
				buf := s.slot("momentum_buffer", i)
				if s.steps == 1 {
					buf.Copy_(g)
				} else {
					buf.MustMulScalar_(ts.FloatScalar(s.momentum))
					buf.MustAdd_(g)
				}
				if s.nesterov {
					b := buf.MustMulScalar(ts.FloatScalar(s.momentum), false)
					g.MustAdd_(b)
					b.MustDrop()
				} else {
					g.Copy_(buf)
				}
			}
			g.MustMulScalar_(ts.FloatScalar(s.lr))
			p.T.MustSub_(g)
			g.MustDrop()
		}
		err = ts.TorchErr()
	})
	return err
}
