package optim

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
)

// ClipPerParam is DINO's utils.clip_gradients: each parameter's gradient on
// its own (not the global norm of torch.nn.utils.clip_grad_norm_) is scaled
// in place by coef = clip/(‖grad‖₂ + 1e-6) when coef < 1, before the
// optimizer step. Parameters without a gradient are skipped. It returns the
// gradient norms before clipping of the parameters that had one, in order,
// as clip_gradients does. clip must be positive (main_dino.py skips the
// call for clip_grad 0).
func ClipPerParam(params []*ts.Tensor, clip float64) ([]float64, error) {
	if !(clip > 0) || math.IsInf(clip, 1) {
		return nil, fmt.Errorf("optim: gradient clip %v: want a positive, finite norm", clip)
	}
	all, has, err := backend.ClipGradPerParam(params, clip)
	if err != nil {
		return nil, fmt.Errorf("optim: %w", err)
	}
	norms := make([]float64, 0, len(all))
	for i, n := range all {
		if has[i] {
			norms = append(norms, n)
		}
	}
	return norms, nil
}

// MaxNorm is the largest of norms (as ClipPerParam returns them; NaN if
// any is NaN), 0 for none: a one-number summary of a step's gradients to
// log.
func MaxNorm(norms []float64) float64 {
	m := 0.0
	for _, n := range norms {
		m = max(m, n)
	}
	return m
}
