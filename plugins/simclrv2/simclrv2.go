// Package simclrv2 is the SimCLR v2 family (Chen et al. 2020, "Big
// Self-Supervised Models are Strong Semi-Supervised Learners"):
//   - simclrv2: SimCLR's NT-Xent (plugins/simclr) over a deeper, 3-layer
//     projection head;
//   - simclrv2_distill: self-distillation of a student from a frozen
//     teacher's temperature-softened predictions on unlabeled images.
//
// Import the package to run the methods in process, or serve them with the
// plugin binary in cmd/selfsup-simclrv2.
package simclrv2

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{Constructor(), DistillConstructor()}
}

// Name is the id of SimCLR v2's contrastive pre-training.
const Name = "simclrv2"

// Constructor makes fresh SimCLR v2 methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "SimCLR v2: NT-Xent over a 3-layer projection head on two augmented views",
		New:     func() method.Method { return New() },
	}
}

// Defaults scale google-research/simclr's v2 head (tf2/model.py
// ProjectionHead with proj_head_mode nonlinear, num_proj_layers 3: two
// Linear-BN-ReLU layers as wide as the trunk's features, then Linear(128)
// and a BatchNorm; the linears before a BN carry no bias) to Fashion-MNIST:
// layers D-D-D-64 for 128-d convnet-s features, like plugins/simclr's
// 64-d output. Temperature 0.5, the SimCLR paper's best for the small
// batches of CIFAR-sized runs (its appendix B.9; google's default 0.1 is
// for batches of 4096). The head's Adam at lr 1e-3, weight decay 1e-6.
// proj_hidden 0 means "as wide as the trunk's features".
func Defaults() method.Params {
	return method.Params{
		"temperature": 0.5,
		"proj_layers": int64(3), "proj_hidden": int64(0), "proj_out": int64(64),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// Feature keys of the views' pooled tap.
var (
	key1       = method.FeatureKey("v1", "pooled", false)
	key2       = method.FeatureKey("v2", "pooled", false)
	teacherKey = method.FeatureKey("v1", "pooled", true)
)

// Method is SimCLR v2's contrastive pre-training. Its zero value is not set
// up; use New, then Setup.
type Method struct {
	h           nn.Heads // projection head, Adam, counters
	temperature float64
	head        *nn.MLP
}

// New returns a SimCLR v2 method that still needs Setup (Loss works at once).
func New() *Method { return &Method{h: nn.Heads{Name: Name}} }

// Spec: two online views with the "simclr" recipe and the pooled tap, as
// SimCLR.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: Name,
		Views: []method.View{
			{Name: "v1", Recipe: "simclr", Online: true},
			{Name: "v2", Recipe: "simclr", Online: true},
		},
		Defaults: Defaults(),
	}
}

// HeadConfig is the projection head for trunk features of size dim:
// layers−1 Linear(no bias)-BN-ReLU blocks of width hidden (dim when 0), then
// Linear(out) and a BatchNorm. The reference's last BatchNorm scales but
// does not centre; nn.MLP's affine BatchNorm also learns a shift, which the
// loss's normalisation makes nearly immaterial.
func HeadConfig(dim, layers, hidden, out int64) nn.MLPConfig {
	if hidden == 0 {
		hidden = dim
	}
	dims := []int64{dim}
	for range layers - 1 {
		dims = append(dims, hidden)
	}
	dims = append(dims, out)
	return nn.MLPConfig{Dims: dims, BatchNorm: true, NoHiddenBias: true, LastBN: true, LastBNAffine: true}
}

// Setup builds the projection head and its Adam from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [6]error
	var t, lr, wd float64
	var layers, hidden, out int64
	t, errs[0] = p.Float("temperature")
	lr, errs[1] = p.Float("lr")
	wd, errs[2] = p.Float("weight_decay")
	layers, errs[3] = p.Int("proj_layers")
	hidden, errs[4] = p.Int("proj_hidden")
	out, errs[5] = p.Int("proj_out")
	if err := errors.Join(errs[:]...); err != nil {
		return method.SetupResponse{}, fmt.Errorf("simclrv2 setup: %w", err)
	}
	if t <= 0 || layers < 1 || hidden < 0 {
		return method.SetupResponse{}, fmt.Errorf("simclrv2 setup: temperature %v, proj_layers %d, proj_hidden %d: want temperature > 0, at least 1 layer, hidden ≥ 0", t, layers, hidden)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.temperature = t
	if m.head, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), nn.NewRand(req.Seed), HeadConfig(m.h.Dim, layers, hidden, out)); err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("simclrv2 setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss is SimCLR's: NT-Xent on roles z1, z2 [N, D] with param temperature
// (METHODS.md's simclr section; simclrv2 changes the head, not the loss).
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	sc := simclr.New()
	defer sc.Close()
	out, err := sc.Loss(ctx, in)
	if err != nil {
		return out, fmt.Errorf("simclrv2: %w", err)
	}
	return out, nil
}

// Step projects both views with one BatchNorm batch of 2N (as
// plugins/simclr and the reference, which runs the concatenated views),
// evaluates simclr.NTXent, updates the head when req.Train, and returns the
// gradients for both views' features.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := methodkit.Features(Name, req, m.h.Dim, 2, key1, key2)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f[0])), s.T(nn.Leaf(f[1]))
	z1, z2 := methodkit.ProjectTogether(s, m.head, req.Train, m.h.Dev, l1, l2)
	loss := s.T(simclr.NTXent(z1, z2, m.temperature))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("simclrv2 step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{key1, key2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("simclrv2 step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"temperature": m.temperature}, Grads: g}, nil
}

// Save writes the head (with BatchNorm statistics), Adam's moments and the
// step counts.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the head and the optimizer.
func (m *Method) Close() error {
	m.h.Release()
	m.head = nil
	return nil
}
