// Package invaspread is Invariant and Spreading Instance Feature learning
// (Ye, Zhang, Yuen & Chang, CVPR 2019): two augmentations of every image in
// a batch are embedded on the unit sphere; each embedding should pick its
// own image's other view among the batch's 2B − 1 others (invariance) and
// no other image's view (spreading), a softmax NCE over the batch with the
// second factor of every inner product held constant. Import it to run the
// method in process, or serve it with the plugin binary in
// cmd/selfsup-invaspread.
package invaspread

import (
	"context"
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
const Name = "invaspread"

// Constructor makes fresh Invariance-Spreading methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "Invariance Spreading: in-batch instance NCE of unit embeddings of two views",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults follow the official code (mangye16/Unsupervised_Embedding_
// Learning, demo_seen.py: negM 1, T 0.1, a Linear(D, 128) embedding after
// the trunk, L2-normalised): negM 1, T 0.1, low_dim 128; the head's Adam at
// lr 1e-3 with weight decay 1e-6 (the official SGD lr 0.03 and weight decay
// 5e-4 train the whole network, the trunk's optimizer here).
func Defaults() method.Params {
	return method.Params{
		"negM": 1.0, "T": 0.1, "low_dim": int64(128),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// Criterion is BatchCriterion of the reference on x [2B, D] (rows 0…B−1
// view 1, rows B…2B−1 view 2, unit norm), METHODS.md's invaspread section:
// with p(i) = (i + B) mod 2B, pos_i = exp(x_i·sg(x_p(i))/T), A_ij =
// exp(x_i·sg(x_j)/T) off the diagonal, div_i = Σ_j A_ij (negM = 1) or
// negM(Σ_j A_ij − pos_i) + pos_i, loss = −(Σ_i log(pos_i/div_i) + negM ·
// Σ_i [Σ_j log(1 − A_ij/div_i) − log(1 − pos_i/div_i)]) / 2B. Gradients
// flow only through the first factor of each inner product. It computes
// in x's dtype; the caller owns the result.
func Criterion(x *ts.Tensor, negM, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n := x.MustSize()[0]
	b := n / 2
	dt, dev := x.DType(), x.MustDevice()
	f := ts.FloatScalar
	xd := s.T(x.MustDetach(false))
	swapped := s.T(ts.MustCat([]*ts.Tensor{s.T(xd.MustNarrow(0, b, b, false)), s.T(xd.MustNarrow(0, 0, b, false))}, 0))
	pos := s.T(s.T(x.MustMul(swapped, false)).MustSumDimIntlist([]int64{1}, false, dt, false))
	pos = s.T(s.T(pos.MustDivScalar(f(t), false)).MustExp(false))
	all := s.T(s.T(x.MustMm(s.T(xd.MustT(false)), false)).MustDivScalar(f(t), false))
	all = s.T(all.MustExp(false))
	eye := s.T(ts.MustEye(n, gotch.Bool, dev))
	all = s.T(all.MustMaskedFill(eye, f(0), false))
	div := s.T(all.MustSumDimIntlist([]int64{1}, false, dt, false))
	if negM != 1 {
		div = s.T(s.T(s.T(div.MustSub(pos, false)).MustMulScalar(f(negM), false)).MustAdd(pos, false))
	}
	pmt := s.T(pos.MustDiv(div, false))
	// log(1 − A_ij/div_i), summed over j (the diagonal adds log 1 = 0), less
	// the positive's term.
	pon := s.T(all.MustDiv(s.T(div.MustUnsqueeze(1, false)), false))
	pon = s.T(s.T(s.T(pon.MustRsubScalar(f(1), false)).MustLog(false)).MustSumDimIntlist([]int64{1}, false, dt, false))
	pon = s.T(pon.MustSub(s.T(s.T(pmt.MustRsubScalar(f(1), false)).MustLog(false)), false))
	lnPmt := s.T(s.T(pmt.MustLog(false)).MustSum(dt, false))
	lnPon := s.T(s.T(pon.MustSum(dt, false)).MustMulScalar(f(negM), false))
	return s.T(lnPmt.MustAdd(lnPon, false)).MustDivScalar(f(-float64(n)), false)
}

// Method is Invariance Spreading. Its zero value is not set up; use New,
// then Setup.
type Method struct {
	h       nn.Heads // embedding head, Adam, counters
	negM, t float64
	embed   *nn.MLP
}

// New returns a method that still needs Setup (Loss works at once).
func New() *Method { return &Method{h: nn.Heads{Name: Name}} }

// Feature keys of the two views' pooled tap.
var (
	key1 = method.FeatureKey("v1", "pooled", false)
	key2 = method.FeatureKey("v2", "pooled", false)
)

// Spec: two online views and the pooled tap. The reference augments with
// RandomResizedCrop(scale 0.2–1), grayscale 0.2, colour jitter 0.4 and a
// flip; at 28×28 the "mocov2" recipe is that (it blurs only views above
// 64 px).
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: Name,
		Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Online: true},
		},
		Defaults: Defaults(),
	}
}

// Setup builds the embedding head Linear(D, low_dim) and its Adam from
// req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [5]error
	var negM, t, lr, wd float64
	var low int64
	negM, errs[0] = p.Float("negM")
	t, errs[1] = p.Float("T")
	lr, errs[2] = p.Float("lr")
	wd, errs[3] = p.Float("weight_decay")
	low, errs[4] = p.Int("low_dim")
	for _, e := range errs {
		if e != nil {
			return method.SetupResponse{}, fmt.Errorf("invaspread setup: %w", e)
		}
	}
	if err := checkParams(negM, t); err != nil {
		return method.SetupResponse{}, fmt.Errorf("invaspread setup: %w", err)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.negM, m.t = negM, t
	if m.embed, err = nn.NewMLP(m.h.VS.Root().Sub("embed"), nn.NewRand(req.Seed), nn.MLPConfig{Dims: []int64{m.h.Dim, low}}); err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("invaspread setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

func checkParams(negM, t float64) error {
	if t <= 0 || negM <= 0 || negM > 1 {
		return fmt.Errorf("negM %v, T %v: want 0 < negM ≤ 1 and T > 0", negM, t)
	}
	return nil
}

// Loss evaluates Criterion on role x [2B, D] with params negM, T and
// batchSize (= B).
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	negM, err1 := in.Params.Float("negM")
	t, err2 := in.Params.Float("T")
	if err := methodkit.FirstErr(err1, err2); err != nil {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: %w", err)
	}
	if err := checkParams(negM, t); err != nil {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "x")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: %w", err)
	}
	defer l.Drop()
	x := l.T("x")
	size := x.MustSize()
	if len(size) != 2 || size[0] < 4 || size[0]%2 != 0 {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: x has shape %v, want [2B, D] with B ≥ 2", size)
	}
	if dt := x.DType(); dt != gotch.Float && dt != gotch.Double {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: x is %v, want a float dtype", dt)
	}
	if b, err := in.Params.IntOr("batchSize", size[0]/2); err != nil || b != size[0]/2 {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: batchSize %d (%v) but x has %d rows; batchSize is B, half the rows", b, err, size[0])
	}
	loss := Criterion(x, negM, t)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("invaspread loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step embeds both views with the head, normalises, stacks them as
// [v1; v2] (the reference's cat(f, f_hat)), evaluates Criterion, updates
// the head when req.Train, and returns the gradients for both views'
// features. Metrics: the fraction of rows whose most similar other row is
// their positive.
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
	x := s.T(ts.MustCat([]*ts.Tensor{l1, l2}, 0))
	x = methodkit.ToHead(s, x, m.h.Dev)
	z := s.T(nn.Normalize(s.T(m.embed.Forward(x, req.Train))))
	loss := s.T(Criterion(z, m.negM, m.t))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("invaspread step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	acc := positiveAccuracy(s, z)
	g, err := methodkit.Grads([]string{key1, key2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("invaspread step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"pos_acc": acc}, Grads: g}, nil
}

// positiveAccuracy is the fraction of the 2B rows of z whose nearest other
// row is the other view of their image.
func positiveAccuracy(s *tensor.Scope, z *ts.Tensor) float64 {
	var acc float64
	tensor.NoGrad(func() {
		n := z.MustSize()[0]
		dev := z.MustDevice()
		sim := s.T(z.MustMm(s.T(z.MustT(false)), false))
		sim = s.T(sim.MustMaskedFill(s.T(ts.MustEye(n, gotch.Bool, dev)), ts.FloatScalar(math.Inf(-1)), false))
		best := s.T(sim.MustArgmax([]int64{1}, false, false))
		want := s.T(s.T(nn.Arange(n, dev)).MustRoll([]int64{n / 2}, []int64{0}, false))
		hit := s.T(s.T(best.MustEqTensor(want, false)).MustTotype(gotch.Double, false))
		acc = nn.Item(s.T(hit.MustMean(gotch.Double, false)))
	})
	return acc
}

// Save writes the head, Adam's moments and the step counts.
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
	m.embed = nil
	return nil
}
