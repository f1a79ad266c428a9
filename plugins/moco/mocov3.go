package moco

import (
	"context"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MoCoV3Name is the id of MoCo v3.
const MoCoV3Name = "mocov3"

// MoCoV3Constructor makes fresh MoCo v3 methods.
func MoCoV3Constructor() method.Constructor {
	return method.Constructor{
		Name:    MoCoV3Name,
		Summary: "MoCo v3: symmetric in-batch InfoNCE of predicted queries against EMA keys",
		New:     func() method.Method { return NewMoCoV3() },
	}
}

// MoCoV3Defaults scale the official ResNet recipe (T 1.0, momentum 0.99 on
// a cosine schedule to 1, 3-layer projector 4096-4096-256 with a last BN
// without affine, 2-layer predictor 4096-256, linears without bias before
// a BN) down to Fashion-MNIST: projector D-256-64, predictor 64-256-64,
// Adam lr 1e-3, weight decay 1e-6.
func MoCoV3Defaults() method.Params {
	return method.Params{
		"T": 1.0, "momentum": 0.99,
		"proj_hidden": int64(256), "proj_out": int64(64), "pred_hidden": int64(256),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// Contrastive is MoCo v3's ctr(q, k) = 2T · mean_i CE(q̂_i K̂ᵀ / T, i).
// The caller owns the result.
func Contrastive(q, k *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	qn := s.T(nn.Normalize(q))
	kn := s.T(nn.Normalize(k))
	logits := s.T(qn.MustMatmul(s.T(kn.MustT(false)), false))
	logits = s.T(logits.MustDivScalar(ts.FloatScalar(t), false))
	labels := s.T(nn.Arange(q.MustSize()[0], q.MustDevice()))
	ce := s.T(nn.CrossEntropy(logits, labels))
	return ce.MustMulScalar(ts.FloatScalar(2*t), false)
}

// SymmetricLoss is ctr(q1, k2) + ctr(q2, k1) (METHODS.md's mocov3 section).
// The caller owns the result.
func SymmetricLoss(q1, q2, k1, k2 *ts.Tensor, t float64) *ts.Tensor {
	a := Contrastive(q1, k2, t)
	b := Contrastive(q2, k1, t)
	defer a.MustDrop()
	defer b.MustDrop()
	return a.MustAdd(b, false)
}

// MoCoV3 is MoCo v3: both views go through the trunk (projector and
// predictor give the queries) and through the EMA target (the EMA
// projector gives the keys).
type MoCoV3 struct {
	h           nn.Heads // heads, optimizer and counters
	t, momentum float64
	proj, pred  *nn.MLP
	keyProj     *nn.MLP
}

// NewMoCoV3 returns a MoCo v3 method that still needs Setup.
func NewMoCoV3() *MoCoV3 { return &MoCoV3{h: nn.Heads{Name: MoCoV3Name}, momentum: 0.99} }

var v3Keys = struct{ q1, q2, k1, k2 string }{
	method.FeatureKey("v1", "pooled", false), method.FeatureKey("v2", "pooled", false),
	method.FeatureKey("v1", "pooled", true), method.FeatureKey("v2", "pooled", true),
}

// Spec: views v1 (byol1) and v2 (byol2), each through the trunk and its EMA
// target (momentum 0.99 to 1 on a cosine schedule), pooled tap.
func (m *MoCoV3) Spec() method.Spec {
	return method.Spec{
		Name: MoCoV3Name,
		Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true, Target: true},
			{Name: "v2", Recipe: "byol2", Online: true, Target: true},
		},
		Target:   &method.Target{Momentum: m.momentum, Schedule: method.Cosine, FinalMomentum: 1},
		Defaults: MoCoV3Defaults(),
	}
}

// Setup builds projector, predictor, the EMA projector and Adam.
func (m *MoCoV3) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(MoCoV3Name, MoCoV3Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [7]error
	var t, mom, lr, wd float64
	var ph, po, qh int64
	t, errs[0] = p.Float("T")
	mom, errs[1] = p.Float("momentum")
	lr, errs[2] = p.Float("lr")
	wd, errs[3] = p.Float("weight_decay")
	ph, errs[4] = p.Int("proj_hidden")
	po, errs[5] = p.Int("proj_out")
	qh, errs[6] = p.Int("pred_hidden")
	for _, e := range errs {
		if e != nil {
			return method.SetupResponse{}, fmt.Errorf("mocov3 setup: %w", e)
		}
	}
	if t <= 0 || mom < 0 || mom > 1 {
		return method.SetupResponse{}, fmt.Errorf("mocov3 setup: T %v, momentum %v: want T > 0, momentum in [0, 1]", t, mom)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.t, m.momentum = t, mom
	projCfg := nn.MLPConfig{Dims: []int64{m.h.Dim, ph, po}, BatchNorm: true, NoHiddenBias: true, LastBN: true}
	predCfg := nn.MLPConfig{Dims: []int64{po, qh, po}, BatchNorm: true, NoHiddenBias: true}
	rng := nn.NewRand(req.Seed)
	if m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, projCfg); err == nil {
		m.pred, err = nn.NewMLP(m.h.VS.Root().Sub("pred"), rng, predCfg)
	}
	if err == nil {
		err = m.h.Finish(lr, wd, func(vs *gnn.VarStore) error {
			var err error
			m.keyProj, err = nn.NewMLP(vs.Root().Sub("proj"), rng, projCfg)
			return err
		})
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("mocov3 setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates SymmetricLoss on roles q1, q2, k1, k2 [N, D] with param T.
func (m *MoCoV3) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err := in.Params.Float("T")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("mocov3 loss: %w", err)
	}
	if t <= 0 {
		return method.LossOutput{}, fmt.Errorf("mocov3 loss: T %v must be positive", t)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "q1", "q2", "k1", "k2")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("mocov3 loss: %w", err)
	}
	defer l.Drop()
	all := map[string]*ts.Tensor{"q1": l.T("q1"), "q2": l.T("q2"), "k1": l.T("k1"), "k2": l.T("k2")}
	if err := matrices(MoCoV3Name, all, [2]string{"q1", "k2"}, [2]string{"q2", "k1"}, [2]string{"q1", "q2"}); err != nil {
		return method.LossOutput{}, err
	}
	loss := SymmetricLoss(all["q1"], all["q2"], all["k1"], all["k2"], t)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("mocov3 loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step: queries pred(proj(v)) per view (separate BN batches, as the
// reference), EMA update of the key projector (training only, before the
// keys), keys from the EMA projector on the target features, the symmetric
// loss, head update, and the gradients for both online views.
func (m *MoCoV3) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	var f [4]*ts.Tensor
	for i, key := range []string{v3Keys.q1, v3Keys.q2, v3Keys.k1, v3Keys.k2} {
		x, err := methodkit.Feature(MoCoV3Name, req, key, m.h.Dim, 1)
		if err != nil {
			return method.StepResponse{}, err
		}
		if i > 0 && x.MustSize()[0] != f[0].MustSize()[0] {
			return method.StepResponse{}, fmt.Errorf("mocov3 step: feature %s has %d rows, %s has %d", key, x.MustSize()[0], v3Keys.q1, f[0].MustSize()[0])
		}
		f[i] = x
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f[0])), s.T(nn.Leaf(f[1]))
	query := func(l *ts.Tensor) *ts.Tensor {
		z := s.T(m.proj.Forward(methodkit.ToHead(s, l, m.h.Dev), req.Train))
		return s.T(m.pred.Forward(z, req.Train))
	}
	q1, q2 := query(l1), query(l2)
	mom := method.Target{Momentum: m.momentum, Schedule: method.Cosine, FinalMomentum: 1}.MomentumAt(req.Step, m.h.Total)
	if req.Train {
		if err := nn.EMA(m.h.Target, m.h.VS, mom, nn.KeepBuffers); err != nil {
			return method.StepResponse{}, fmt.Errorf("mocov3 step: %w", err)
		}
	}
	key := func(x *ts.Tensor) *ts.Tensor {
		return s.T(m.keyProj.Forward(methodkit.ToHead(s, s.T(x.MustDetach(false)), m.h.Dev), req.Train))
	}
	k1, k2 := key(f[2]), key(f[3])
	loss := s.T(SymmetricLoss(q1, q2, k1, k2, m.t))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("mocov3 step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{v3Keys.q1, v3Keys.q2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("mocov3 step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"momentum": mom}, Grads: g}, nil
}

// Save writes projector, predictor, EMA projector and the optimizer.
func (m *MoCoV3) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *MoCoV3) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the heads and the optimizer.
func (m *MoCoV3) Close() error {
	m.h.Release()
	m.proj, m.pred, m.keyProj = nil, nil, nil
	return nil
}
