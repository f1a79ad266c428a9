// Package simclr is the SimCLR method family: NT-Xent (lightly's form, with
// each anchor's self-similarity removed) over a projection head on two
// online views. Import it to run SimCLR in process, or serve it with the
// plugin binary in cmd/selfsup-simclr.
package simclr

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Name is the method id.
const Name = "simclr"

// Constructor makes fresh SimCLR methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "SimCLR: NT-Xent over a projection head on two augmented views",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults are the method's hyper-parameters: the Fashion-MNIST reference
// recipe (temperature 0.5, head Linear(D,128)-BN-ReLU-Linear(128,64), Adam
// lr 1e-3, weight decay 1e-6).
func Defaults() method.Params {
	return method.Params{
		"temperature":  0.5,
		"proj_hidden":  int64(128),
		"proj_out":     int64(64),
		"lr":           1e-3,
		"weight_decay": 1e-6,
	}
}

// Feature keys of the two views' pooled tap.
var (
	key1 = method.FeatureKey("v1", "pooled", false)
	key2 = method.FeatureKey("v2", "pooled", false)
)

// NTXent is the loss of METHODS.md's simclr section: with u = normalize(z1)
// and v = normalize(z2), each of the 2N anchors has as logits its
// similarities (/temperature) to all 2N embeddings but itself, its positive
// is the other view of the same image, and the loss is the mean CE over the
// anchors. It computes in z1's dtype; the caller owns the result.
func NTXent(z1, z2 *ts.Tensor, temperature float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n := z1.MustSize()[0]
	dev := z1.MustDevice()
	u := s.T(nn.Normalize(z1))
	v := s.T(nn.Normalize(z2))
	all := s.T(ts.MustCat([]*ts.Tensor{u, v}, 0))
	sim := s.T(all.MustMatmul(s.T(all.MustT(false)), false))
	sim = s.T(sim.MustDivScalar(ts.FloatScalar(temperature), false))
	self := s.T(ts.MustEye(2*n, gotch.Bool, dev))
	sim = s.T(sim.MustMaskedFill(self, ts.FloatScalar(math.Inf(-1)), false))
	// anchor i (< n) has its positive at n+i, anchor n+i at i
	idx := make([]int64, 2*n)
	for i := range n {
		idx[i], idx[n+i] = n+i, i
	}
	pos, err := tensor.FromInt64(idx, 2*n)
	if err != nil {
		panic(err) // the length always fills the shape
	}
	pos = s.T(pos.MustTo(dev, true))
	return nn.CrossEntropy(sim, pos)
}

// Method is SimCLR. Its zero value is not set up; use New, then Setup.
type Method struct {
	temperature float64
	h           nn.Heads // head variables, optimizer and counters
	head        *nn.MLP
}

// New returns a SimCLR method that still needs Setup (Loss works at once).
func New() *Method { return &Method{h: nn.Heads{Name: Name}} }

// Spec: two online views with the "simclr" recipe and the pooled tap.
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

// config is the checked configuration.
type config struct {
	temperature, lr, wd float64
	projHidden, projOut int64
}

// readConfig reads and checks the merged params p.
func readConfig(p method.Params) (config, error) {
	var c config
	var err error
	if c.temperature, err = p.Float("temperature"); err != nil {
		return c, err
	}
	if c.lr, err = p.Float("lr"); err != nil {
		return c, err
	}
	if c.wd, err = p.Float("weight_decay"); err != nil {
		return c, err
	}
	if c.projHidden, err = p.Int("proj_hidden"); err != nil {
		return c, err
	}
	if c.projOut, err = p.Int("proj_out"); err != nil {
		return c, err
	}
	if c.temperature <= 0 {
		return c, fmt.Errorf("simclr: temperature %v must be positive", c.temperature)
	}
	return c, nil
}

// Setup builds the projection head for pooled features of FeatureDims
// ["pooled"] = [D] and its Adam optimizer, initialised from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	cfg, err := readConfig(p)
	if err != nil {
		return method.SetupResponse{}, fmt.Errorf("%w; fix the method config", err)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.temperature = cfg.temperature
	rng := nn.NewRand(req.Seed)
	if m.head, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, nn.Projector(m.h.Dim, cfg.projHidden, cfg.projOut)); err == nil {
		err = m.h.Finish(cfg.lr, cfg.wd, nil)
	}
	if err != nil {
		m.release()
		return method.SetupResponse{}, fmt.Errorf("simclr setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates NT-Xent on roles z1, z2 [N, D] with param temperature.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err := in.Params.Float("temperature")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclr loss: %w", err)
	}
	if t <= 0 {
		return method.LossOutput{}, fmt.Errorf("simclr loss: temperature %v must be positive", t)
	}
	defer nn.Autograd()()
	leaves, err := nn.NewLeaves(in, "z1", "z2")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclr loss: %w", err)
	}
	defer leaves.Drop()
	z1, z2 := leaves.T("z1"), leaves.T("z2")
	if err := methodkit.SamePairs(z1, z2, 2); err != nil {
		return method.LossOutput{}, fmt.Errorf("simclr loss: z1, z2: %w", err)
	}
	loss := NTXent(z1, z2, t)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := leaves.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclr loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step projects both views' pooled features with one BatchNorm batch of 2N
// (as the reference does), evaluates NT-Xent, updates the head when
// req.Train, and returns the gradient for both views' features.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if m.head == nil {
		return method.StepResponse{}, errors.New("simclr step: method not set up; call Setup first")
	}
	f1, f2, err := methodkit.Pair(Name, req, key1, key2, m.h.Dim)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f1)), s.T(nn.Leaf(f2))
	z1, z2 := methodkit.ProjectTogether(s, m.head, req.Train, m.h.Dev, l1, l2)
	loss := s.T(NTXent(z1, z2, m.temperature))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("simclr step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{key1, key2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("simclr step: %w", err)
	}
	return method.StepResponse{
		Loss:    value,
		Metrics: map[string]float64{"temperature": m.temperature},
		Grads:   g,
	}, nil
}

// Save writes the head (with BatchNorm statistics), the Adam moments and
// the step counts.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.head == nil {
		return nil, errors.New("simclr save: method not set up; call Setup first")
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.head == nil {
		return errors.New("simclr load: method not set up; call Setup with the saved config first")
	}
	return m.h.Load(state, nil)
}

// Close frees the head and the optimizer state.
func (m *Method) Close() error {
	m.release()
	return nil
}

func (m *Method) release() {
	m.h.Release()
	m.head = nil
}
