// Package barlowtwins is Barlow Twins (Zbontar et al. 2021): the
// cross-correlation of two views' batch-normalised projections is pushed
// to the identity, on-diagonal terms to 1 (invariance) and off-diagonal
// terms to 0 (redundancy reduction). Import it to run the method in
// process, or serve it with the plugin binary in cmd/selfsup-barlowtwins.
package barlowtwins

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

// Name is the method id.
const Name = "barlowtwins"

// Constructor makes fresh Barlow Twins methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "Barlow Twins: cross-correlation of batch-normalised projections pushed to the identity",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults scale the official recipe (facebookresearch/barlowtwins: lambd
// 0.0051, projector 8192-8192-8192 of Linear(no bias)-BN-ReLU layers and a
// last Linear without bias, LARS with weight decay 1.5e-6) to 128-d
// Fashion-MNIST trunk features: projector D-512-512-512 (solo-learn's and
// lightly's CIFAR recipes also keep the 3-layer projector, at 2048), the
// paper's lambd, BatchNorm eps 1e-5, the heads' Adam at lr 1e-3 with
// weight decay 1.5e-6.
func Defaults() method.Params {
	return method.Params{
		"lambd": 0.0051, "bn_eps": 1e-5,
		"proj_hidden": int64(512), "proj_out": int64(512),
		"lr": 1e-3, "weight_decay": 1.5e-6,
	}
}

// batchNorm is BatchNorm1d(affine=False) in training mode: per column,
// (z − mean) / sqrt(biased variance + eps); the gradient flows through the
// batch statistics. It computes in z's dtype; the caller owns the result.
func batchNorm(z *ts.Tensor, eps float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := z.DType()
	mu := s.T(z.MustMeanDim([]int64{0}, true, dt, false))
	c := s.T(z.MustSub(mu, false))
	v := s.T(s.T(c.MustSquare(false)).MustMeanDim([]int64{0}, true, dt, false))
	sd := s.T(s.T(v.MustAddScalar(ts.FloatScalar(eps), false)).MustSqrt(false))
	return c.MustDiv(sd, false)
}

// Loss is the Barlow Twins objective of METHODS.md's barlowtwins section:
// c = bn(z1)ᵀ bn(z2) / batchSize with each view normalised by its own batch
// statistics, loss = Σ_d (c_dd − 1)² + lambd · Σ_{d≠e} c_de². It computes
// in z1's dtype; the caller owns the result.
func Loss(z1, z2 *ts.Tensor, lambd, bnEps float64, batchSize int64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := z1.DType()
	a, b := s.T(batchNorm(z1, bnEps)), s.T(batchNorm(z2, bnEps))
	c := s.T(s.T(s.T(a.MustT(false)).MustMm(b, false)).MustDivScalar(ts.FloatScalar(float64(batchSize)), false))
	diag := s.T(c.MustDiagonal(0, 0, 1, false))
	onDiag := s.T(s.T(s.T(diag.MustSubScalar(ts.FloatScalar(1), false)).MustSquare(false)).MustSum(dt, false))
	all := s.T(s.T(c.MustSquare(false)).MustSum(dt, false))
	diagSq := s.T(s.T(diag.MustSquare(false)).MustSum(dt, false))
	offDiag := s.T(all.MustSub(diagSq, false))
	return onDiag.MustAdd(s.T(offDiag.MustMulScalar(ts.FloatScalar(lambd), false)), false)
}

// Method is Barlow Twins. Its zero value is not set up; use New, then Setup.
type Method struct {
	h            nn.Heads // projector, Adam, counters
	lambd, bnEps float64
	proj         *nn.MLP
}

// New returns a Barlow Twins method that still needs Setup (Loss works at
// once).
func New() *Method { return &Method{h: nn.Heads{Name: Name}} }

// Feature keys of the two views' pooled tap.
var (
	key1 = method.FeatureKey("v1", "pooled", false)
	key2 = method.FeatureKey("v2", "pooled", false)
)

// Spec: views v1 (byol1) and v2 (byol2) through the trunk, pooled tap —
// Barlow Twins uses BYOL's asymmetric augmentations.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: Name,
		Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true},
			{Name: "v2", Recipe: "byol2", Online: true},
		},
		Defaults: Defaults(),
	}
}

// Setup builds the projector and its Adam from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [6]error
	var lambd, bnEps, lr, wd float64
	var ph, po int64
	lambd, errs[0] = p.Float("lambd")
	bnEps, errs[1] = p.Float("bn_eps")
	lr, errs[2] = p.Float("lr")
	wd, errs[3] = p.Float("weight_decay")
	ph, errs[4] = p.Int("proj_hidden")
	po, errs[5] = p.Int("proj_out")
	for _, e := range errs {
		if e != nil {
			return method.SetupResponse{}, fmt.Errorf("barlowtwins setup: %w", e)
		}
	}
	if lambd < 0 || bnEps <= 0 {
		return method.SetupResponse{}, fmt.Errorf("barlowtwins setup: lambd %v, bn_eps %v: want lambd ≥ 0, bn_eps > 0", lambd, bnEps)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.lambd, m.bnEps = lambd, bnEps
	cfg := nn.MLPConfig{Dims: []int64{m.h.Dim, ph, ph, po}, BatchNorm: true, NoHiddenBias: true}
	if m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), nn.NewRand(req.Seed), cfg); err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("barlowtwins setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates the objective on roles z1, z2 [N, D] with params lambd,
// batch_size (= N) and bn_eps (default 1e-5).
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	lambd, err := in.Params.Float("lambd")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: %w", err)
	}
	bnEps, err := in.Params.FloatOr("bn_eps", 1e-5)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "z1", "z2")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: %w", err)
	}
	defer l.Drop()
	z1, z2 := l.T("z1"), l.T("z2")
	if err := methodkit.SamePairs(z1, z2, 2); err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: z1, z2: %w", err)
	}
	n := z1.MustSize()[0]
	bs, err := in.Params.IntOr("batch_size", n)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: %w", err)
	}
	if bs != n {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: batch_size %d but z1 has %d rows; single-process batch_size is N", bs, n)
	}
	loss := Loss(z1, z2, lambd, bnEps, n)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("barlowtwins loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step projects each view (separate BatchNorm batches, as the reference
// calls the projector per view), evaluates the loss, updates the projector
// when req.Train, and returns the gradients for both views' features.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f1, f2, err := methodkit.Pair(Name, req, key1, key2, m.h.Dim)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f1)), s.T(nn.Leaf(f2))
	project := func(l *ts.Tensor) *ts.Tensor {
		x := methodkit.ToHead(s, l, m.h.Dev)
		return s.T(m.proj.Forward(x, req.Train))
	}
	z1, z2 := project(l1), project(l2)
	loss := s.T(Loss(z1, z2, m.lambd, m.bnEps, f1.MustSize()[0]))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("barlowtwins step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{key1, key2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("barlowtwins step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"lambd": m.lambd}, Grads: g}, nil
}

// Save writes the projector (with BatchNorm statistics), Adam's moments and
// the step counts.
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

// Close frees the projector and the optimizer.
func (m *Method) Close() error {
	m.h.Release()
	m.proj = nil
	return nil
}
