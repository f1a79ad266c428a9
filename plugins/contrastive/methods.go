package contrastive

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// def is what makes one method of the family: its loss's defaults and
// checks, the roles its Loss reads, and how Step feeds it the two views'
// projections.
type def struct {
	name, summary string
	// defaults are the loss's hyper-parameters (the head's are shared).
	defaults func() method.Params
	// check validates the loss's hyper-parameters in p.
	check func(p method.Params) error
	// roles are the Loss's input roles, in order.
	roles []string
	// loss evaluates the Loss on its roles.
	loss func(roles method.Tensors, p method.Params) (*ts.Tensor, error)
	// normalize says whether Step L2-normalises the projections before pair
	// (the reference models return normalised projections); nil means yes.
	normalize func(p method.Params) (bool, error)
	// pair is the training loss on the two views' projections z1, z2
	// [N, out]; tensors it makes go into s, the result does not.
	pair func(s *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error)
	// logZ adds nce's learned log normaliser to the head.
	logZ bool
}

func (d *def) normalizes(p method.Params) (bool, error) {
	if d.normalize == nil {
		return true, nil
	}
	return d.normalize(p)
}

// floats reads number params, failing on the first that is missing.
func floats(p method.Params, names ...string) ([]float64, error) {
	out := make([]float64, len(names))
	for i, n := range names {
		v, err := p.Float(n)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// checkTemperature accepts a positive "temperature".
func checkTemperature(p method.Params) error {
	t, err := p.Float("temperature")
	if err != nil {
		return err
	}
	if !(t > 0) {
		return fmt.Errorf("temperature %v must be positive", t)
	}
	return nil
}

// checkTauPlus accepts a temperature and a class prior 0 <= tau_plus < 1.
func checkTauPlus(p method.Params) error {
	if err := checkTemperature(p); err != nil {
		return err
	}
	tp, err := p.Float("tau_plus")
	if err != nil {
		return err
	}
	if !(tp >= 0 && tp < 1) {
		return fmt.Errorf("tau_plus %v must lie in [0, 1)", tp)
	}
	return nil
}

var defs = map[string]*def{
	AlignUniformName: {
		name:    AlignUniformName,
		summary: "Alignment and uniformity on the hypersphere (Wang & Isola 2020)",
		// SsnL/align_uniform examples/stl10/main.py: align_w 1, unif_w 1,
		// align_alpha 2, unif_t 2.
		defaults: func() method.Params {
			return method.Params{"alpha": 2.0, "t": 2.0, "lam": 1.0, "align_w": 1.0}
		},
		check: func(p method.Params) error {
			v, err := floats(p, "alpha", "t", "lam", "align_w")
			if err != nil {
				return err
			}
			if !(v[0] > 0) || !(v[1] > 0) || v[2] < 0 || v[3] < 0 {
				return fmt.Errorf("alpha %v and t %v must be positive, lam %v and align_w %v non-negative", v[0], v[1], v[2], v[3])
			}
			return nil
		},
		roles: []string{"x", "y"},
		loss: func(r method.Tensors, p method.Params) (*ts.Tensor, error) {
			return alignUniform(r["x"], r["y"], p)
		},
		pair: func(_ *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return alignUniform(z1, z2, m.params)
		},
	},
	DebiasedName: {
		name:    DebiasedName,
		summary: "Debiased contrastive learning, DCL (Chuang et al. 2020)",
		// chingyaoc/DCL main.py: temperature 0.5, tau_plus 0.1.
		defaults: func() method.Params { return method.Params{"temperature": 0.5, "tau_plus": 0.1} },
		check:    checkTauPlus,
		roles:    []string{"out_1", "out_2"},
		loss: func(r method.Tensors, p method.Params) (*ts.Tensor, error) {
			return debiased(r["out_1"], r["out_2"], p)
		},
		pair: func(_ *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return debiased(z1, z2, m.params)
		},
	},
	HardNegName: {
		name:    HardNegName,
		summary: "Hard negative sampling, HCL (Robinson et al. 2021)",
		// joshr17/HCL image/main.py: temperature 0.5, tau_plus 0.1, beta 1,
		// estimator hard.
		defaults: func() method.Params {
			return method.Params{"temperature": 0.5, "tau_plus": 0.1, "beta": 1.0, "estimator": Hard}
		},
		check: func(p method.Params) error {
			if err := checkTauPlus(p); err != nil {
				return err
			}
			beta, err := p.Float("beta")
			if err != nil {
				return err
			}
			if beta < 0 {
				return fmt.Errorf("beta %v must be non-negative", beta)
			}
			est, err := p.StringOr("estimator", Hard)
			if err != nil {
				return err
			}
			if est != Hard && est != Easy {
				return fmt.Errorf("estimator %q: want %q or %q", est, Hard, Easy)
			}
			return nil
		},
		roles: []string{"out_1", "out_2"},
		loss: func(r method.Tensors, p method.Params) (*ts.Tensor, error) {
			return hardNeg(r["out_1"], r["out_2"], p)
		},
		pair: func(_ *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return hardNeg(z1, z2, m.params)
		},
	},
	FlatNCEName: {
		name:    FlatNCEName,
		summary: "FlatNCE: contrastive learning without the small-batch penalty (Chen et al. 2021)",
		// Junya-Chen/FlatCLR main.py: temperature 0.1.
		defaults: func() method.Params { return method.Params{"temperature": 0.1} },
		check:    checkTemperature,
		roles:    []string{"z1", "z2"},
		loss: func(r method.Tensors, p method.Params) (*ts.Tensor, error) {
			return flatNCE(r["z1"], r["z2"], p)
		},
		// FlatNCE normalises inside its loss, on the raw projections.
		normalize: func(method.Params) (bool, error) { return false, nil },
		pair: func(_ *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
			return flatNCE(z1, z2, m.params)
		},
	},
	InfoNCEName: {
		name:    InfoNCEName,
		summary: "CPC's InfoNCE: one positive against N negatives per anchor (van den Oord et al. 2018)",
		// CPC scores raw log-bilinear dot products without a temperature
		// (normalize false, temperature 1 gives that form). On normalised
		// 64-d projections a temperature is needed; 0.5 is the SimCLR
		// Fashion-MNIST reference's, so the two compare.
		defaults: func() method.Params { return method.Params{"temperature": 0.5, "normalize": true} },
		check: func(p method.Params) error {
			if _, err := p.BoolOr("normalize", true); err != nil {
				return err
			}
			return checkTemperature(p)
		},
		roles: []string{"anchor", "positive", "negatives"},
		loss: func(r method.Tensors, p method.Params) (*ts.Tensor, error) {
			t, _ := p.Float("temperature")
			return InfoNCE(r["anchor"], r["positive"], r["negatives"], t)
		},
		normalize: func(p method.Params) (bool, error) { return p.BoolOr("normalize", true) },
		pair:      infoNCEPair,
	},
	NCEName: {
		name:    NCEName,
		summary: "Binary noise-contrastive estimation: logistic regression of matched vs mismatched view pairs (Gutmann & Hyvärinen 2010)",
		// No reference code for this form; temperature 0.1 lets cosine
		// scores reach ±10 logits (InstDisc's NCE uses 0.07), and the
		// learned log normaliser log_z plays NCE's normalising constant.
		defaults: func() method.Params { return method.Params{"temperature": 0.1} },
		check: func(p method.Params) error {
			if _, ok := p["temperature"]; !ok { // the Loss of scores needs none
				return nil
			}
			return checkTemperature(p)
		},
		roles: []string{"data", "noise"},
		loss: func(r method.Tensors, _ method.Params) (*ts.Tensor, error) {
			return NCE(r["data"], r["noise"]), nil
		},
		pair: ncePair,
		logZ: true,
	},
}

func alignUniform(x, y *ts.Tensor, p method.Params) (*ts.Tensor, error) {
	v, err := floats(p, "alpha", "t", "lam", "align_w")
	if err != nil {
		return nil, err
	}
	return AlignUniform(x, y, v[0], v[1], v[2], v[3]), nil
}

func debiased(out1, out2 *ts.Tensor, p method.Params) (*ts.Tensor, error) {
	v, err := floats(p, "temperature", "tau_plus")
	if err != nil {
		return nil, err
	}
	if err := methodkit.SamePairs(out1, out2, 2); err != nil {
		return nil, err
	}
	return Debiased(out1, out2, v[0], v[1]), nil
}

func hardNeg(out1, out2 *ts.Tensor, p method.Params) (*ts.Tensor, error) {
	v, err := floats(p, "temperature", "tau_plus", "beta")
	if err != nil {
		return nil, err
	}
	est, err := p.StringOr("estimator", Hard)
	if err != nil {
		return nil, err
	}
	if err := methodkit.SamePairs(out1, out2, 2); err != nil {
		return nil, err
	}
	return HardNeg(out1, out2, v[0], v[1], v[2], est)
}

func flatNCE(z1, z2 *ts.Tensor, p method.Params) (*ts.Tensor, error) {
	t, err := p.Float("temperature")
	if err != nil {
		return nil, err
	}
	if err := methodkit.SamePairs(z1, z2, 2); err != nil {
		return nil, err
	}
	return FlatNCE(z1, z2, t), nil
}

// infoNCEPair is InfoNCE in both directions between the views: anchors of
// one view, each with its other view as the positive and the other view's
// N−1 other images as its negatives, averaged over the two directions.
func infoNCEPair(s *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
	t, err := m.params.Float("temperature")
	if err != nil {
		return nil, err
	}
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
func ncePair(s *tensor.Scope, m *Method, z1, z2 *ts.Tensor) (*ts.Tensor, error) {
	t, err := m.params.Float("temperature")
	if err != nil {
		return nil, err
	}
	n := z1.MustSize()[0]
	scores := s.T(s.T(z1.MustMm(s.T(z2.MustT(false)), false)).MustDivScalar(ts.FloatScalar(t), false))
	scores = s.T(scores.MustSub(m.logZ, false))
	data := s.T(scores.MustDiagonal(0, 0, 1, false))
	noise := s.T(scores.MustGather(1, s.T(offDiagonalIndex(n, z1.MustDevice())), false, false))
	return NCE(data, noise), nil
}
