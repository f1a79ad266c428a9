package contrastive

import (
	"cmp"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// AlignUniformConfig: SsnL/align_uniform examples/stl10/main.py (align_w 1,
// unif_w 1, align_alpha 2, unif_t 2).
type AlignUniformConfig struct {
	Alpha  float64 `param:"alpha" default:"2" doc:"exponent of the alignment distance (> 0)"`
	T      float64 `param:"t" default:"2" doc:"scale of uniformity's Gaussian potential (> 0)"`
	Lam    float64 `param:"lam" default:"1" doc:"weight of uniformity (≥ 0)"`
	AlignW float64 `param:"align_w" default:"1" doc:"weight of alignment (≥ 0)"`
	Head
}

// DebiasedConfig: chingyaoc/DCL main.py.
type DebiasedConfig struct {
	Temperature float64 `param:"temperature" default:"0.5" doc:"softmax temperature (> 0)"`
	TauPlus     float64 `param:"tau_plus" default:"0.1" doc:"class prior τ⁺ of a negative being a positive, in [0, 1)"`
	Head
}

// FlatNCEConfig: Junya-Chen/FlatCLR main.py.
type FlatNCEConfig struct {
	Temperature float64 `param:"temperature" default:"0.1" doc:"softmax temperature (> 0)"`
	Head
}

// HardNegConfig: joshr17/HCL image/main.py.
type HardNegConfig struct {
	Temperature float64 `param:"temperature" default:"0.5" doc:"softmax temperature (> 0)"`
	TauPlus     float64 `param:"tau_plus" default:"0.1" doc:"class prior τ⁺ of a negative being a positive, in [0, 1)"`
	Beta        float64 `param:"beta" default:"1" doc:"hardness concentration β of the negatives' weights (≥ 0)"`
	Estimator   string  `param:"estimator" default:"hard" doc:"hard (HCL's reweighted, debiased negatives) or easy (their plain sum)"`
	Head
}

// InfoNCEConfig: CPC scores raw log-bilinear dot products without a
// temperature (normalize false, temperature 1 gives that form). On
// normalised 64-d projections a temperature is needed; 0.5 is the SimCLR
// Fashion-MNIST reference's, so the two compare.
type InfoNCEConfig struct {
	Temperature float64 `param:"temperature" default:"0.5" doc:"softmax temperature (> 0)"`
	Normalize   bool    `param:"normalize" default:"true" doc:"L2-normalise the projections before scoring"`
	Head
}

// NCEConfig: no reference code for this form; temperature 0.1 lets cosine
// scores reach ±10 logits (InstDisc's NCE uses 0.07), and the learned log
// normaliser log_z plays NCE's normalising constant.
type NCEConfig struct {
	Temperature float64 `param:"temperature" default:"0.1" doc:"divisor of the cosine scores (> 0)"`
	Head
}

// family is the table of the family's methods, sorted by name.
var family = []method.Constructor{
	member(row[AlignUniformConfig]{
		name: AlignUniformName, summary: "Alignment and uniformity on the hypersphere (Wang & Isola 2020)",
		// main.py: encoder(torch.cat([im_x, im_y])).chunk(2).
		pass:  method.Together,
		roles: []string{"x", "y"},
		loss: func(r method.Tensors, c *AlignUniformConfig) (*ts.Tensor, error) {
			return AlignUniform(r["x"], r["y"], c.Alpha, c.T, c.Lam, c.AlignW), nil
		},
	}),
	member(row[DebiasedConfig]{
		name: DebiasedName, summary: "Debiased contrastive learning, DCL (Chuang et al. 2020)",
		// main.py: net(pos_1), net(pos_2), each view alone.
		pass:  method.EachView,
		roles: []string{"out_1", "out_2"},
		loss: func(r method.Tensors, c *DebiasedConfig) (*ts.Tensor, error) {
			if err := methodkit.SamePairs(r["out_1"], r["out_2"], 2); err != nil {
				return nil, err
			}
			return Debiased(r["out_1"], r["out_2"], c.Temperature, c.TauPlus), nil
		},
	}),
	member(row[FlatNCEConfig]{
		name: FlatNCEName, summary: "FlatNCE: contrastive learning without the small-batch penalty (Chen et al. 2021)",
		// FlatCLR trains SimCLR's model: both views in one batch.
		pass:  method.Together,
		roles: []string{"z1", "z2"},
		loss: func(r method.Tensors, c *FlatNCEConfig) (*ts.Tensor, error) {
			if err := methodkit.SamePairs(r["z1"], r["z2"], 2); err != nil {
				return nil, err
			}
			return FlatNCE(r["z1"], r["z2"], c.Temperature), nil
		},
		// FlatNCE normalises inside its loss, on the raw projections.
		raw: func(*FlatNCEConfig) bool { return true },
	}),
	member(row[HardNegConfig]{
		name: HardNegName, summary: "Hard negative sampling, HCL (Robinson et al. 2021)",
		// HCL's image/main.py (DCL's loop): net(pos_1), net(pos_2).
		pass:  method.EachView,
		roles: []string{"out_1", "out_2"},
		loss: func(r method.Tensors, c *HardNegConfig) (*ts.Tensor, error) {
			if err := methodkit.SamePairs(r["out_1"], r["out_2"], 2); err != nil {
				return nil, err
			}
			return HardNeg(r["out_1"], r["out_2"], c.Temperature, c.TauPlus, c.Beta, c.Estimator)
		},
	}),
	member(row[InfoNCEConfig]{
		name: InfoNCEName, summary: "CPC's InfoNCE: one positive against N negatives per anchor (van den Oord et al. 2018)",
		// No two-view reference: as the SimCLR Fashion-MNIST reference, trunk(torch.cat([v1, v2])).
		pass:  method.Together,
		roles: []string{"anchor", "positive", "negatives"},
		loss: func(r method.Tensors, c *InfoNCEConfig) (*ts.Tensor, error) {
			return InfoNCE(r["anchor"], r["positive"], r["negatives"], c.Temperature)
		},
		pair: func(s *tensor.Scope, c *InfoNCEConfig, _, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return infoNCEPair(s, c.Temperature, z1, z2)
		},
		raw: func(c *InfoNCEConfig) bool { return !c.Normalize },
	}),
	member(row[NCEConfig]{
		name: NCEName, summary: "Binary noise-contrastive estimation: logistic regression of matched vs mismatched view pairs (Gutmann & Hyvärinen 2010)",
		// No reference code: as the SimCLR Fashion-MNIST reference, one batch.
		pass:  method.Together,
		roles: []string{"data", "noise"},
		loss: func(r method.Tensors, _ *NCEConfig) (*ts.Tensor, error) {
			return NCE(r["data"], r["noise"]), nil
		},
		pair: func(s *tensor.Scope, c *NCEConfig, logZ, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return ncePair(s, c.Temperature, logZ, z1, z2), nil
		},
		logZ: true,
	}),
}

// Validate checks the config.
func (c *AlignUniformConfig) Validate() error {
	if !(c.Alpha > 0) || !(c.T > 0) || c.Lam < 0 || c.AlignW < 0 {
		return fmt.Errorf("alpha %v and t %v must be positive, lam %v and align_w %v non-negative", c.Alpha, c.T, c.Lam, c.AlignW)
	}
	return c.check()
}

// Validate checks the config.
func (c *DebiasedConfig) Validate() error {
	return cmp.Or(checkTauPlus(c.Temperature, c.TauPlus), c.check())
}

// Validate checks the config.
func (c *FlatNCEConfig) Validate() error { return cmp.Or(checkTemperature(c.Temperature), c.check()) }

// Validate checks the config.
func (c *HardNegConfig) Validate() error {
	var err error
	switch {
	case c.Beta < 0:
		err = fmt.Errorf("beta %v must be non-negative", c.Beta)
	case c.Estimator != Hard && c.Estimator != Easy:
		err = fmt.Errorf("estimator %q: want %q or %q", c.Estimator, Hard, Easy)
	}
	return cmp.Or(checkTauPlus(c.Temperature, c.TauPlus), err, c.check())
}

// Validate checks the config.
func (c *InfoNCEConfig) Validate() error { return cmp.Or(checkTemperature(c.Temperature), c.check()) }

// Validate checks the config.
func (c *NCEConfig) Validate() error { return cmp.Or(checkTemperature(c.Temperature), c.check()) }

func checkTemperature(t float64) error {
	if !(t > 0) {
		return fmt.Errorf("temperature %v must be positive", t)
	}
	return nil
}

// checkTauPlus accepts a temperature and a class prior 0 <= tau_plus < 1.
func checkTauPlus(t, tauPlus float64) error {
	if err := checkTemperature(t); err != nil || (tauPlus >= 0 && tauPlus < 1) {
		return err
	}
	return fmt.Errorf("tau_plus %v must lie in [0, 1)", tauPlus)
}

// infoNCEPair is InfoNCE in both directions between the views: anchors of
// one view, each with its other view as the positive and the other view's
// N−1 other images as its negatives, averaged over the two directions.
func infoNCEPair(s *tensor.Scope, t float64, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
	n, d := z1.MustSize()[0], z1.MustSize()[1]
	flat := s.T(s.T(offDiagonalIndex(n, z1.MustDevice())).MustView([]int64{-1}, false))
	others := func(z *ts.Tensor) *ts.Tensor { // [N, N−1, D]
		return s.T(s.T(z.MustIndexSelect(0, flat, false)).MustView([]int64{n, n - 1, d}, false))
	}
	a, err := InfoNCE(z1, z2, others(z2), t)
	if err != nil {
		return nil, err
	}
	s.T(a)
	b, err := InfoNCE(z2, z1, others(z1), t)
	if err != nil {
		return nil, err
	}
	s.T(b)
	return s.T(a.MustAdd(b, false)).MustMulScalar(ts.FloatScalar(0.5), false), nil
}

// ncePair forms NCE's data and noise from the two views: the score of a
// pair (i, j) is z1_i·z2_j / T − log_z; the N matched pairs (i, i) are data
// and the N(N−1) mismatched pairs (i ≠ j), every shuffle of the batch at
// once, are noise. The learned log_z is NCE's normalising constant (it also
// absorbs the log of the noise-to-data ratio the equal weighting leaves
// out).
func ncePair(s *tensor.Scope, t float64, logZ, z1, z2 *ts.Tensor) *ts.Tensor {
	n := z1.MustSize()[0]
	scores := s.T(s.T(z1.MustMm(s.T(z2.MustT(false)), false)).MustDivScalar(ts.FloatScalar(t), false))
	scores = s.T(scores.MustSub(logZ, false))
	data := s.T(scores.MustDiagonal(0, 0, 1, false))
	noise := s.T(scores.MustGather(1, s.T(offDiagonalIndex(n, z1.MustDevice())), false, false))
	return NCE(data, noise)
}
