// Package byol is the family of siamese methods with a predictor and no
// negatives: BYOL (an EMA target of trunk and projector, cosine momentum
// schedule) and SimSiam (one network, stop-gradient). Both minimise the
// symmetric negative cosine similarity between one view's prediction and
// the other view's projection (METHODS.md's byol and simsiam sections).
// Import the package to run the methods in process, or serve them with the
// plugin binary in cmd/selfsup-byol.
package byol

import (
	"errors"
	"fmt"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{BYOLConstructor(), SimSiamConstructor()}
}

// BYOLName is the id of BYOL.
const BYOLName = "byol"

// BYOLConfig scales the paper's heads (projector Linear(4096)-BN-ReLU-
// Linear(256), predictor of the same shape on 256-d inputs) to 128-d
// Fashion-MNIST trunk features. The base momentum is 0.99, moved to 1
// along a half cosine: the paper's 0.996 is for ImageNet runs of 300-1000
// epochs; short small-image runs (lightly's and solo-learn's CIFAR recipes)
// start from 0.99 so that the target follows the online network within a
// few epochs.
type BYOLConfig struct {
	Eps         float64 `param:"eps" default:"1e-8" doc:"norm clamp of the cosine (> 0)"`
	Momentum    float64 `param:"momentum" default:"0.99" doc:"base EMA momentum of the target, in [0, 1]"`
	ProjHidden  int64   `param:"proj_hidden" default:"512" doc:"hidden width of the projector"`
	ProjOut     int64   `param:"proj_out" default:"128" doc:"output width of projector and predictor"`
	PredHidden  int64   `param:"pred_hidden" default:"512" doc:"hidden width of the predictor"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the heads"`
	WeightDecay float64 `param:"weight_decay" default:"1.5e-6" doc:"L2 weight decay of the heads (the paper's)"`
}

// Validate checks the config.
func (c *BYOLConfig) Validate() error {
	if c.Momentum < 0 || c.Momentum > 1 {
		return fmt.Errorf("momentum %v: want a number in [0, 1]", c.Momentum)
	}
	return checkHeads(c.Eps, c.LR, c.WeightDecay)
}

func checkHeads(eps, lr, wd float64) error {
	if eps <= 0 || lr <= 0 || wd < 0 {
		return fmt.Errorf("eps %v, lr %v, weight_decay %v: want eps > 0, lr > 0, weight_decay ≥ 0", eps, lr, wd)
	}
	return nil
}

// schedule is the target's momentum: base to 1 along a half cosine (the
// paper's τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2).
func (c *BYOLConfig) schedule() method.Target {
	return method.Target{Momentum: c.Momentum, Schedule: method.Cosine, FinalMomentum: 1}
}

// BYOLDef is Bootstrap Your Own Latent: views v1 (byol1) and v2 (byol2),
// each through the trunk and its EMA target; projector and predictor give
// the predictions, the EMA projector the targets. The config's momentum
// moves both the heads' EMA and (through Spec) the trunk's.
var BYOLDef = methodkit.Def[BYOLConfig]{
	Name: BYOLName, Summary: "BYOL: predict the EMA target's projection of the other view (negative cosine)",
	Spec: func(c *BYOLConfig) method.Spec {
		t := c.schedule()
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true, Target: true},
			{Name: "v2", Recipe: "byol2", Online: true, Target: true},
		}, Target: &t}
	},
	Build: func(h *methodkit.Heads, c *BYOLConfig) (methodkit.Stepper, error) {
		m := &byolStep{eps: c.Eps, target: c.schedule()}
		projCfg := nn.Projector(h.Dim, c.ProjHidden, c.ProjOut)
		var err error
		if m.proj, err = nn.NewMLP(h.Sub("proj"), h.Rng, projCfg); err == nil {
			m.pred, err = nn.NewMLP(h.Sub("pred"), h.Rng, nn.Predictor(c.ProjOut, c.PredHidden, c.ProjOut))
		}
		if err == nil {
			err = h.EMATarget(func(p *gnn.Path) (err error) {
				m.targetProj, err = nn.NewMLP(p.Sub("proj"), h.Rng, projCfg)
				return err
			})
		}
		return m, errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	Loss:     negCosineLoss[BYOLConfig]("t1", "t2", func(c *BYOLConfig) float64 { return c.Eps }),
	MinBatch: 2,
}

type byolStep struct {
	eps                    float64
	target                 method.Target
	proj, pred, targetProj *nn.MLP
}

// Forward: predictions pred(proj(v)) per view (separate BatchNorm batches,
// as lightly's and DeepMind's code run the views one at a time), then the
// EMA of the target projector on training steps (before the targets; a
// no-op at step 0 where target = online), then the targets.
func (m *byolStep) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	predict := func(v string) *ts.Tensor {
		return s.T(m.pred.Forward(s.T(m.proj.Forward(s.Online(v), s.Train)), s.Train))
	}
	p1, p2 := predict("v1"), predict("v2")
	if _, err := s.EMA(m.target); err != nil {
		return nil, err
	}
	target := func(v string) *ts.Tensor { return s.T(m.targetProj.Forward(s.Target(v), s.Train)) }
	return NegCosine(p1, p2, target("v1"), target("v2"), m.eps), nil
}

// NewBYOL returns a BYOL method that still needs Setup (Loss works at once).
func NewBYOL() *methodkit.Method[BYOLConfig] { return methodkit.New(BYOLDef) }

// BYOLConstructor makes fresh BYOL methods.
func BYOLConstructor() method.Constructor { return methodkit.Constructor(BYOLDef) }

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
// z1, z2 (projections under the method's names, detached in the cases),
// [N, D] matrices of one shape and float dtype; param eps.
func negCosineLoss[C any](z1, z2 string, eps func(*C) float64) *methodkit.Loss[C] {
	return &methodkit.Loss[C]{Roles: []string{"p1", "p2", z1, z2}, Fn: func(r method.Tensors, c *C, _ method.Params) (*ts.Tensor, error) {
		for _, k := range []string{"p2", z1, z2} {
			if err := methodkit.SamePairs(r["p1"], r[k], 1); err != nil {
				return nil, fmt.Errorf("p1, %s: %w", k, err)
			}
		}
		return NegCosine(r["p1"], r["p2"], r[z1], r[z2], eps(c)), nil
	}}
}
