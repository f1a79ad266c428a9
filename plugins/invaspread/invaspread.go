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
const Name = "invaspread"

// Config follows the official code (mangye16/Unsupervised_Embedding_
// Learning, demo_seen.py: negM 1, T 0.1, a Linear(D, 128) embedding after
// the trunk, L2-normalised); the head's Adam at lr 1e-3 with weight decay
// 1e-6 (the official SGD lr 0.03 and weight decay 5e-4 train the whole
// network, the trunk's optimizer here).
type Config struct {
	NegM        float64 `param:"negM" default:"1" doc:"weight of the negatives' terms (> 0; the reference's negM)"`
	T           float64 `param:"T" default:"0.1" doc:"softmax temperature (> 0)"`
	LowDim      int64   `param:"low_dim" default:"128" doc:"width of the unit embedding Linear(D, low_dim)"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.T <= 0 || c.NegM <= 0 {
		return fmt.Errorf("negM %v, T %v: want negM > 0 and T > 0", c.NegM, c.T)
	}
	return nil
}

// Def is Invariance Spreading: two online views and the pooled tap. The
// reference augments with RandomResizedCrop(scale 0.2–1), grayscale 0.2,
// colour jitter 0.4 and a flip; at 28×28 the "mocov2" recipe is that (it
// blurs only views above 64 px).
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "Invariance Spreading: in-batch instance NCE of unit embeddings of two views",
	Spec: func(*Config) method.Spec {
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Online: true},
		}, Pass: method.Together} // demo_seen.py: net(torch.cat((inputs1, inputs2), 0))
	},
	Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
		embed, err := nn.NewMLP(h.Sub("embed"), h.Rng, nn.MLPConfig{Dims: []int64{h.Dim, c.LowDim}})
		return &step{embed, c.NegM, c.T}, errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	// Role x [2B, D]; params negM, T and batchSize (= B).
	Loss: &methodkit.Loss[Config]{Roles: []string{"x"}, Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
		x := r["x"]
		size := x.MustSize()
		if len(size) != 2 || size[0] < 4 || size[0]%2 != 0 {
			return nil, fmt.Errorf("x has shape %v, want [2B, D] with B ≥ 2", size)
		}
		if dt := x.DType(); dt != gotch.Float && dt != gotch.Double {
			return nil, fmt.Errorf("x is %v, want a float dtype", dt)
		}
		if b, err := p.IntOr("batchSize", size[0]/2); err != nil || b != size[0]/2 {
			return nil, fmt.Errorf("batchSize %d (%v) but x has %d rows; batchSize is B, half the rows", b, err, size[0])
		}
		return Criterion(x, c.NegM, c.T), nil
	}},
	MinBatch: 2,
}

type step struct {
	embed   *nn.MLP
	negM, t float64
}

// Forward embeds both views stacked as [v1; v2] (the reference's
// cat(f, f_hat), one batch through the head), normalises and evaluates
// Criterion. Metric pos_acc: the fraction of rows whose most similar other
// row is their positive.
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	l1, l2 := s.Leaf(method.FeatureKey("v1", "pooled", false)), s.Leaf(method.FeatureKey("v2", "pooled", false))
	x := methodkit.ToHead(s.Scope, s.T(ts.MustCat([]*ts.Tensor{l1, l2}, 0)), s.Heads.Dev)
	z := s.T(nn.Normalize(s.T(m.embed.Forward(x, s.Train))))
	s.Metric("pos_acc", positiveAccuracy(s.Scope, z))
	return Criterion(z, m.negM, m.t), nil
}

// New returns a method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh Invariance-Spreading methods; Constructors lists
// the family's methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

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
