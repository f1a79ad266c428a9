package byol

import (
	"errors"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// SimSiamName is the id of SimSiam.
const SimSiamName = "simsiam"

// SimSiamConfig scales the official recipe (facebookresearch/simsiam:
// projector of Linear-BN-ReLU layers without bias ending in a BatchNorm
// without affine, dim 2048; predictor Linear(2048, 512, no bias)-BN-ReLU-
// Linear(512, 2048), a 4× bottleneck; the paper's CIFAR variant uses a
// 2-layer projector) to 128-d Fashion-MNIST trunk features: projector
// D-512-512 with 2 layers, predictor 512-128-512; the heads' Adam with the
// paper's weight decay 1e-4 (SimSiam needs weight decay).
type SimSiamConfig struct {
	Eps         float64 `param:"eps" default:"1e-8" doc:"norm clamp of the cosine (> 0)"`
	ProjLayers  int64   `param:"proj_layers" default:"2" doc:"Linear layers of the projector (≥ 1)"`
	ProjHidden  int64   `param:"proj_hidden" default:"512" doc:"hidden width of the projector"`
	ProjOut     int64   `param:"proj_out" default:"512" doc:"output width of projector and predictor"`
	PredHidden  int64   `param:"pred_hidden" default:"128" doc:"bottleneck width of the predictor"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the heads"`
	WeightDecay float64 `param:"weight_decay" default:"1e-4" doc:"L2 weight decay of the heads"`
}

// Validate checks the config.
func (c *SimSiamConfig) Validate() error {
	if c.ProjLayers < 1 {
		return errors.New("proj_layers must be at least 1")
	}
	return checkHeads(c.Eps, c.LR, c.WeightDecay)
}

// SimSiamDef is Simple Siamese learning: two online views with the
// "mocov2" recipe (SimSiam's official augmentations are MoCo v2's), a
// projector and a predictor; the projections are the stop-gradient targets.
var SimSiamDef = methodkit.Def[SimSiamConfig]{
	Name: SimSiamName, Summary: "SimSiam: predict the other view's stop-gradient projection (negative cosine)",
	Spec: func(*SimSiamConfig) method.Spec {
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Online: true},
		}}
	},
	Build: func(h *methodkit.Heads, c *SimSiamConfig) (methodkit.Stepper, error) {
		dims := []int64{h.Dim}
		for range c.ProjLayers - 1 {
			dims = append(dims, c.ProjHidden)
		}
		dims = append(dims, c.ProjOut)
		projCfg := nn.MLPConfig{Dims: dims, BatchNorm: true, NoHiddenBias: true, LastBN: true}
		predCfg := nn.MLPConfig{Dims: []int64{c.ProjOut, c.PredHidden, c.ProjOut}, BatchNorm: true, NoHiddenBias: true}
		m := &simSiamStep{eps: c.Eps}
		var err error
		if m.proj, err = nn.NewMLP(h.Sub("proj"), h.Rng, projCfg); err == nil {
			m.pred, err = nn.NewMLP(h.Sub("pred"), h.Rng, predCfg)
		}
		return m, errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	Loss:     negCosineLoss[SimSiamConfig]("z1", "z2", func(c *SimSiamConfig) float64 { return c.Eps }),
	MinBatch: 2,
}

type simSiamStep struct {
	eps        float64
	proj, pred *nn.MLP
}

// Forward: z = proj(v) and p = pred(z) per view (separate BatchNorm
// batches, as the reference runs the views one at a time), the loss
// against the detached projections of the other view.
func (m *simSiamStep) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z1 := s.T(m.proj.Forward(s.Online("v1"), s.Train))
	z2 := s.T(m.proj.Forward(s.Online("v2"), s.Train))
	p1, p2 := s.T(m.pred.Forward(z1, s.Train)), s.T(m.pred.Forward(z2, s.Train))
	d1, d2 := s.T(z1.MustDetach(false)), s.T(z2.MustDetach(false))
	// The std of the normalised projections (1/sqrt(D) when healthy, 0 at
	// collapse) is the paper's collapse monitor.
	s.Metric("z_std", zStd(d1))
	return NegCosine(p1, p2, d1, d2, m.eps), nil
}

// zStd is the mean over dimensions of the batch std of normalize(z).
func zStd(z *ts.Tensor) float64 {
	s := tensor.NewScope()
	defer s.Close()
	u := s.T(nn.Normalize(z))
	sd := s.T(u.MustStdDim([]int64{0}, true, false, false))
	return nn.Item(s.T(sd.MustMean(sd.DType(), false)))
}

// NewSimSiam returns a SimSiam method that still needs Setup (Loss works at
// once).
func NewSimSiam() *methodkit.Method[SimSiamConfig] { return methodkit.New(SimSiamDef) }

// SimSiamConstructor makes fresh SimSiam methods.
func SimSiamConstructor() method.Constructor { return methodkit.Constructor(SimSiamDef) }
