// Package barlowtwins is Barlow Twins (Zbontar et al. 2021): the
// cross-correlation of two views' batch-normalised projections is pushed
// to the identity, on-diagonal terms to 1 (invariance) and off-diagonal
// terms to 0 (redundancy reduction). Import it to run the method in
// process, or serve it with the plugin binary in cmd/selfsup-barlowtwins.
package barlowtwins

import (
	"errors"
	"fmt"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// Name is the method id.
const Name = "barlowtwins"

// Config scales the official recipe (facebookresearch/barlowtwins: lambd
// 0.0051, projector 8192-8192-8192 of Linear(no bias)-BN-ReLU layers and a
// last Linear without bias, LARS with weight decay 1.5e-6) to 128-d
// Fashion-MNIST trunk features: projector D-512-512-512 (solo-learn's and
// lightly's CIFAR recipes also keep the 3-layer projector, at 2048), the
// paper's lambd, the heads' Adam with the paper's weight decay.
type Config struct {
	Lambd       float64 `param:"lambd" default:"0.0051" doc:"weight of the off-diagonal (redundancy) terms (≥ 0)"`
	BNEps       float64 `param:"bn_eps" default:"1e-5" doc:"eps of the affine-free BatchNorm of each view's projections (> 0)"`
	ProjHidden  int64   `param:"proj_hidden" default:"512" doc:"hidden width of the 3-layer projector"`
	ProjOut     int64   `param:"proj_out" default:"512" doc:"output width of the projector"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the projector"`
	WeightDecay float64 `param:"weight_decay" default:"1.5e-6" doc:"L2 weight decay of the projector"`
}

// Validate checks the config. bn_eps 0 stays allowed here for the loss on
// hand-made cases; training needs bn_eps > 0 (checked by Build).
func (c *Config) Validate() error {
	if c.Lambd < 0 || c.BNEps < 0 {
		return fmt.Errorf("lambd %v, bn_eps %v: want lambd ≥ 0, bn_eps ≥ 0", c.Lambd, c.BNEps)
	}
	return nil
}

// Def is Barlow Twins: views v1 (byol1) and v2 (byol2) through the trunk
// (Barlow Twins uses BYOL's asymmetric augmentations), one projector.
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "Barlow Twins: cross-correlation of batch-normalised projections pushed to the identity",
	Spec: func(*Config) method.Spec {
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true},
			{Name: "v2", Recipe: "byol2", Online: true},
		}}
	},
	Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
		if c.BNEps <= 0 {
			return nil, fmt.Errorf("bn_eps %v: want bn_eps > 0; fix the method config", c.BNEps)
		}
		cfg := nn.MLPConfig{Dims: []int64{h.Dim, c.ProjHidden, c.ProjHidden, c.ProjOut}, BatchNorm: true, NoHiddenBias: true}
		proj, err := nn.NewMLP(h.Sub("proj"), h.Rng, cfg)
		return &step{proj, c.Lambd, c.BNEps}, errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	// Roles z1, z2 [N, D]; params lambd, bn_eps and batch_size (= N).
	Loss: &methodkit.Loss[Config]{Roles: []string{"z1", "z2"}, Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
		z1, z2 := r["z1"], r["z2"]
		if err := methodkit.SamePairs(z1, z2, 2); err != nil {
			return nil, fmt.Errorf("z1, z2: %w", err)
		}
		n := z1.MustSize()[0]
		if bs, err := p.IntOr("batch_size", n); err != nil || bs != n {
			return nil, fmt.Errorf("batch_size %d (%v) but z1 has %d rows; single-process batch_size is N", bs, err, n)
		}
		return Loss(z1, z2, c.Lambd, c.BNEps, n), nil
	}},
	MinBatch: 2,
}

type step struct {
	proj         *nn.MLP
	lambd, bnEps float64
}

// Forward projects each view (separate BatchNorm batches, as the reference
// calls the projector per view).
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z1 := s.T(m.proj.Forward(s.Online("v1"), s.Train))
	z2 := s.T(m.proj.Forward(s.Online("v2"), s.Train))
	s.Metric("lambd", m.lambd)
	return Loss(z1, z2, m.lambd, m.bnEps, s.N), nil
}

// New returns a Barlow Twins method that still needs Setup (Loss works at
// once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh Barlow Twins methods; Constructors lists the
// family's methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

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
