package byol

import (
	"context"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// SimSiamName is the id of SimSiam.
const SimSiamName = "simsiam"

// SimSiamConstructor makes fresh SimSiam methods.
func SimSiamConstructor() method.Constructor {
	return method.Constructor{
		Name:    SimSiamName,
		Summary: "SimSiam: predict the other view's stop-gradient projection (negative cosine)",
		New:     func() method.Method { return NewSimSiam() },
	}
}

// SimSiamDefaults scale the official recipe (facebookresearch/simsiam:
// projector of Linear-BN-ReLU layers without bias ending in a BatchNorm
// without affine, dim 2048; predictor Linear(2048, 512, no bias)-BN-ReLU-
// Linear(512, 2048), a 4× bottleneck; the paper's CIFAR variant uses a
// 2-layer projector) to 128-d Fashion-MNIST trunk features: projector
// D-512-512 with 2 layers, predictor 512-128-512; cosine eps 1e-8 (fixed by
// nn.CosineSimilarity); the heads' Adam at lr 1e-3 with weight decay 1e-4
// (the paper's; SimSiam needs weight decay).
func SimSiamDefaults() method.Params {
	return method.Params{
		"eps":         1e-8,
		"proj_layers": int64(2), "proj_hidden": int64(512), "proj_out": int64(512), "pred_hidden": int64(128),
		"lr": 1e-3, "weight_decay": 1e-4,
	}
}

// SimSiam is Simple Siamese learning: both views through the trunk, a
// projector and a predictor; the projections are the stop-gradient targets.
type SimSiam struct {
	h          nn.Heads // projector + predictor, Adam
	eps        float64
	proj, pred *nn.MLP
}

// NewSimSiam returns a SimSiam method that still needs Setup (Loss works at
// once).
func NewSimSiam() *SimSiam { return &SimSiam{h: nn.Heads{Name: SimSiamName}} }

// Spec: two online views with the "mocov2" recipe (SimSiam's official
// augmentations are MoCo v2's) and the pooled tap; no target.
func (m *SimSiam) Spec() method.Spec {
	return method.Spec{
		Name: SimSiamName,
		Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Online: true},
		},
		Defaults: SimSiamDefaults(),
	}
}

// Setup builds projector, predictor and the heads' Adam from req.Seed.
func (m *SimSiam) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(SimSiamName, SimSiamDefaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	c, err := readHeads(SimSiamName, p)
	if err != nil {
		return method.SetupResponse{}, err
	}
	layers, err := p.Int("proj_layers")
	if err != nil || layers < 1 {
		return method.SetupResponse{}, fmt.Errorf("simsiam setup: proj_layers %d (%v): want at least 1", layers, err)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.eps = c.eps
	dims := []int64{m.h.Dim}
	for range layers - 1 {
		dims = append(dims, c.projHidden)
	}
	dims = append(dims, c.projOut)
	projCfg := nn.MLPConfig{Dims: dims, BatchNorm: true, NoHiddenBias: true, LastBN: true}
	predCfg := nn.MLPConfig{Dims: []int64{c.projOut, c.predHidden, c.projOut}, BatchNorm: true, NoHiddenBias: true}
	rng := nn.NewRand(req.Seed)
	if m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, projCfg); err == nil {
		m.pred, err = nn.NewMLP(m.h.VS.Root().Sub("pred"), rng, predCfg)
	}
	if err == nil {
		err = m.h.Finish(c.lr, c.wd, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("simsiam setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates NegCosine on roles p1, p2 (predictions) and z1, z2
// (projections, detached: the stop-gradient) [N, D] with param eps.
func (m *SimSiam) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	return negCosineLoss(ctx, SimSiamName, in, "z1", "z2")
}

// Step: z = proj(v) and p = pred(z) per view (separate BatchNorm batches,
// as the reference runs the views one at a time), the loss against the
// detached projections of the other view, the heads' update, and the
// gradients for both views' features.
func (m *SimSiam) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := methodkit.Features(SimSiamName, req, m.h.Dim, 2, keys.v1, keys.v2)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f[0])), s.T(nn.Leaf(f[1]))
	z1 := s.T(m.proj.Forward(methodkit.ToHead(s, l1, m.h.Dev), req.Train))
	z2 := s.T(m.proj.Forward(methodkit.ToHead(s, l2, m.h.Dev), req.Train))
	p1 := s.T(m.pred.Forward(z1, req.Train))
	p2 := s.T(m.pred.Forward(z2, req.Train))
	d1, d2 := s.T(z1.MustDetach(false)), s.T(z2.MustDetach(false))
	loss := s.T(NegCosine(p1, p2, d1, d2, m.eps))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("simsiam step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{keys.v1, keys.v2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("simsiam step: %w", err)
	}
	// The std of the normalised projections (1/sqrt(D) when healthy, 0 at
	// collapse) is the paper's collapse monitor.
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"z_std": zStd(d1)}, Grads: g}, nil
}

// zStd is the mean over dimensions of the batch std of normalize(z).
func zStd(z *ts.Tensor) float64 {
	s := tensor.NewScope()
	defer s.Close()
	u := s.T(nn.Normalize(z))
	sd := s.T(u.MustStdDim([]int64{0}, true, false, false))
	return nn.Item(s.T(sd.MustMean(sd.DType(), false)))
}

// Save writes projector, predictor, the optimizer and the step counts.
func (m *SimSiam) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *SimSiam) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the heads and the optimizer.
func (m *SimSiam) Close() error {
	m.h.Release()
	m.proj, m.pred = nil, nil
	return nil
}
