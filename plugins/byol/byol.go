// Package byol is the family of siamese methods with a predictor and no
// negatives: BYOL (an EMA target of trunk and projector, cosine momentum
// schedule) and SimSiam (one network, stop-gradient). Both minimise the
// symmetric negative cosine similarity between one view's prediction and
// the other view's projection (METHODS.md's byol and simsiam sections).
// Import the package to run the methods in process, or serve them with the
// plugin binary in cmd/selfsup-byol.
package byol

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{BYOLConstructor(), SimSiamConstructor()}
}

// BYOLName is the id of BYOL.
const BYOLName = "byol"

// BYOLConstructor makes fresh BYOL methods.
func BYOLConstructor() method.Constructor {
	return method.Constructor{
		Name:    BYOLName,
		Summary: "BYOL: predict the EMA target's projection of the other view (negative cosine)",
		New:     func() method.Method { return NewBYOL() },
	}
}

// BYOLMomentum is the base EMA coefficient of BYOL's target: 0.99, moved
// to 1 along a half cosine over training. The paper uses 0.996 for
// ImageNet runs of 300-1000 epochs; short small-image runs (lightly's and
// solo-learn's CIFAR recipes) start from 0.99 so that the target follows
// the online network within a few epochs. Fashion-MNIST runs are short, so
// we take 0.99.
const BYOLMomentum = 0.99

// BYOLDefaults scale the paper's heads (projector Linear(4096)-BN-ReLU-
// Linear(256), predictor of the same shape on 256-d inputs) to 128-d
// Fashion-MNIST trunk features: projector D-512-128, predictor 128-512-128;
// eps 1e-8 of the cosine; the heads' Adam at lr 1e-3 with the paper's
// weight decay 1.5e-6.
func BYOLDefaults() method.Params {
	return method.Params{
		"eps": 1e-8, "momentum": BYOLMomentum,
		"proj_hidden": int64(512), "proj_out": int64(128), "pred_hidden": int64(512),
		"lr": 1e-3, "weight_decay": 1.5e-6,
	}
}

// cosEps is cos_eps(a, b) row-wise, [N]: each row divided by its norm
// clamped at eps (PyTorch ≥ 1.13's F.cosine_similarity). The caller owns the
// result.
func cosEps(a, b *ts.Tensor, eps float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	unit := func(x *ts.Tensor) *ts.Tensor {
		n := s.T(x.MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, true, false))
		n = s.T(n.MustClampMin(ts.FloatScalar(eps), false))
		return s.T(x.MustDiv(n, false))
	}
	prod := s.T(unit(a).MustMul(unit(b), false))
	return prod.MustSumDimIntlist([]int64{1}, false, a.DType(), false)
}

// NegCosine is the symmetric loss of BYOL (lightly's form) and SimSiam:
// −½ (mean_n cos_eps(p1_n, z2_n) + mean_n cos_eps(p2_n, z1_n)), with the
// crossed pairing. z1, z2 are used as given: pass detached tensors for the
// stop-gradient. It lies in [−1, 1]; the BYOL paper's loss is 4 + 4 times
// it. The caller owns the result.
func NegCosine(p1, p2, z1, z2 *ts.Tensor, eps float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	a := s.T(cosEps(p1, z2, eps))
	b := s.T(cosEps(p2, z1, eps))
	sum := s.T(s.T(a.MustMean(a.DType(), false)).MustAdd(s.T(b.MustMean(b.DType(), false)), false))
	return sum.MustMulScalar(ts.FloatScalar(-0.5), false)
}

// negCosineLoss is the Loss of both methods: roles p1, p2 (predictions) and
// z1, z2 (projections, detached in the cases), param eps.
func negCosineLoss(ctx context.Context, name string, in method.LossInput, z1, z2 string) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	eps, err := in.Params.FloatOr("eps", 1e-8)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", name, err)
	}
	if eps <= 0 {
		return method.LossOutput{}, fmt.Errorf("%s loss: eps %v must be positive", name, eps)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "p1", "p2", z1, z2)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", name, err)
	}
	defer l.Drop()
	all := map[string]*ts.Tensor{"p1": l.T("p1"), "p2": l.T("p2"), z1: l.T(z1), z2: l.T(z2)}
	if err := sameMatrices(name, all); err != nil {
		return method.LossOutput{}, err
	}
	// A detached role is the caller's tensor: compute on a detached view so
	// the loss never records a graph through it.
	zz := [2]*ts.Tensor{all[z1], all[z2]}
	for i, r := range []string{z1, z2} {
		if in.IsDetached(r) {
			zz[i] = zz[i].MustDetach(false)
			defer zz[i].MustDrop()
		}
	}
	loss := NegCosine(all["p1"], all["p2"], zz[0], zz[1], eps)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", name, err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// sameMatrices checks that the tensors are [N, D] float matrices of one
// shape and dtype.
func sameMatrices(name string, in map[string]*ts.Tensor) error {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	first := in[keys[0]]
	for _, k := range keys {
		x := in[k]
		if x.Dim() != 2 || !slices.Equal(x.MustSize(), first.MustSize()) {
			return fmt.Errorf("%s loss: %s has shape %v, %s %v: want [N, D] matrices of one shape", name, k, x.MustSize(), keys[0], first.MustSize())
		}
		if dt := x.DType(); dt != first.DType() || (dt != gotch.Float && dt != gotch.Double) {
			return fmt.Errorf("%s loss: %s is %v; all inputs must share one float dtype", name, k, dt)
		}
	}
	return nil
}

// headConfig reads the head hyper-parameters every method of the family has.
type headConfig struct {
	eps, lr, wd         float64
	projHidden          int64
	projOut, predHidden int64
}

func readHeads(name string, p method.Params) (headConfig, error) {
	var c headConfig
	var errs [6]error
	c.eps, errs[0] = p.Float("eps")
	c.lr, errs[1] = p.Float("lr")
	c.wd, errs[2] = p.Float("weight_decay")
	c.projHidden, errs[3] = p.Int("proj_hidden")
	c.projOut, errs[4] = p.Int("proj_out")
	c.predHidden, errs[5] = p.Int("pred_hidden")
	for _, e := range errs {
		if e != nil {
			return c, fmt.Errorf("%s setup: %w", name, e)
		}
	}
	if c.eps <= 0 || c.lr <= 0 || c.wd < 0 {
		return c, fmt.Errorf("%s setup: eps %v, lr %v, weight_decay %v: want eps > 0, lr > 0, weight_decay ≥ 0", name, c.eps, c.lr, c.wd)
	}
	return c, nil
}

// Feature keys of the two views' pooled tap, online and through the target.
var keys = struct{ v1, v2, t1, t2 string }{
	method.FeatureKey("v1", "pooled", false), method.FeatureKey("v2", "pooled", false),
	method.FeatureKey("v1", "pooled", true), method.FeatureKey("v2", "pooled", true),
}

// BYOL is Bootstrap Your Own Latent: both views go through the trunk
// (projector and predictor give the predictions) and through the host's
// EMA target (the EMA projector gives the targets).
type BYOL struct {
	h          nn.Heads // projector + predictor, the EMA projector, Adam
	eps        float64
	momentum   float64
	proj, pred *nn.MLP
	targetProj *nn.MLP
}

// NewBYOL returns a BYOL method that still needs Setup (Loss works at once).
func NewBYOL() *BYOL { return &BYOL{h: nn.Heads{Name: BYOLName}, momentum: BYOLMomentum} }

// schedule is the target's momentum schedule: base momentum to 1 along a
// half cosine (the paper's τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2).
func (m *BYOL) schedule() method.Target {
	return method.Target{Momentum: m.momentum, Schedule: method.Cosine, FinalMomentum: 1}
}

// Spec: views v1 (byol1) and v2 (byol2), each through the trunk and its EMA
// target with BYOL's cosine momentum schedule, pooled tap.
func (m *BYOL) Spec() method.Spec {
	t := m.schedule()
	return method.Spec{
		Name: BYOLName,
		Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true, Target: true},
			{Name: "v2", Recipe: "byol2", Online: true, Target: true},
		},
		Target:   &t,
		Defaults: BYOLDefaults(),
	}
}

// Setup builds projector, predictor, the EMA projector and the heads' Adam,
// initialised from req.Seed. The config's momentum moves the heads' EMA; a
// host reads the trunk's from Spec, which has the default.
func (m *BYOL) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(BYOLName, BYOLDefaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	c, err := readHeads(BYOLName, p)
	if err != nil {
		return method.SetupResponse{}, err
	}
	mom, err := p.Float("momentum")
	if err != nil || mom < 0 || mom > 1 {
		return method.SetupResponse{}, fmt.Errorf("byol setup: momentum %v (%v): want a number in [0, 1]", mom, err)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.eps, m.momentum = c.eps, mom
	projCfg := nn.Projector(m.h.Dim, c.projHidden, c.projOut)
	rng := nn.NewRand(req.Seed)
	if m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, projCfg); err == nil {
		m.pred, err = nn.NewMLP(m.h.VS.Root().Sub("pred"), rng, nn.Predictor(c.projOut, c.predHidden, c.projOut))
	}
	if err == nil {
		err = m.h.Finish(c.lr, c.wd, func(vs *gnn.VarStore) error {
			var err error
			m.targetProj, err = nn.NewMLP(vs.Root().Sub("proj"), rng, projCfg)
			return err
		})
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("byol setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates NegCosine on roles p1, p2 (online predictions) and t1, t2
// (target projections, detached) [N, D] with param eps.
func (m *BYOL) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	return negCosineLoss(ctx, BYOLName, in, "t1", "t2")
}

// Step: predictions pred(proj(v)) per view (separate BatchNorm batches, as
// lightly's and DeepMind's code run the views one at a time), an EMA
// update of the target projector with the schedule's momentum (training
// only, before the targets; at step 0 it is a no-op as target = online),
// targets from the EMA projector on the target features, the loss, the
// heads' update, and the gradients for both online views.
func (m *BYOL) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := methodkit.Features(BYOLName, req, m.h.Dim, 2, keys.v1, keys.v2, keys.t1, keys.t2)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f[0])), s.T(nn.Leaf(f[1]))
	predict := func(l *ts.Tensor) *ts.Tensor {
		z := s.T(m.proj.Forward(methodkit.ToHead(s, l, m.h.Dev), req.Train))
		return s.T(m.pred.Forward(z, req.Train))
	}
	p1, p2 := predict(l1), predict(l2)
	mom := m.schedule().MomentumAt(req.Step, m.h.Total)
	if req.Train {
		if err := nn.EMA(m.h.Target, m.h.VS, mom, nn.KeepBuffers); err != nil {
			return method.StepResponse{}, fmt.Errorf("byol step: %w", err)
		}
	}
	target := func(x *ts.Tensor) *ts.Tensor {
		return s.T(m.targetProj.Forward(methodkit.ToHead(s, s.T(x.MustDetach(false)), m.h.Dev), req.Train))
	}
	t1, t2 := target(f[2]), target(f[3])
	loss := s.T(NegCosine(p1, p2, t1, t2, m.eps))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("byol step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{keys.v1, keys.v2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("byol step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"momentum": mom}, Grads: g}, nil
}

// Save writes projector, predictor, EMA projector, the optimizer and the
// step counts.
func (m *BYOL) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *BYOL) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the heads and the optimizer.
func (m *BYOL) Close() error {
	m.h.Release()
	m.proj, m.pred, m.targetProj = nil, nil, nil
	return nil
}
