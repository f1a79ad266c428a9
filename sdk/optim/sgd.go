package optim

import (
	"github.com/selfsup/selfsup/sdk/backend"
)

// sgd is PyTorch's SGD with momentum (dampening 0, optional Nesterov) and,
// with lars set, LARS: before the momentum step the (decayed) gradient of
// every parameter that is not NoDecay is scaled by the trust ratio
// eta·‖p‖/‖g‖ (solo-learn's LARS, exclude_bias_n_norm). One fused native
// call per step.
type sgd struct {
	base
	momentum float64
	nesterov bool
	lars     bool
	eta      float64
}

func (s *sgd) Step() error {
	s.steps++
	bufs := s.slots("momentum_buffer")
	return backend.SGDStep(s.tensors(), bufs, s.noDecay(), s.lr, s.momentum, s.wd, s.nesterov, s.lars, s.eta, s.steps == 1)
}
