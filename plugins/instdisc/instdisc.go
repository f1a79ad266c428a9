// Package instdisc is Instance Discrimination (Wu et al. 2018, the
// lemniscate code): every image is its own class, represented by a memory
// bank of per-sample unit features; a batch's features are scored against
// their own bank entries and K noise entries with NCE (normalisation
// constant Z estimated once, on first use), and the bank moves toward the
// new features with momentum (K 0: lemniscate's softmax over the whole
// bank instead of NCE). Its Spec asks the host for sample ids. Import
// it to run the method in process, or serve it with the plugin binary in
// cmd/selfsup-instdisc.
package instdisc

import (
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Name is the method id.
const Name = "instdisc"

// Config follows lemniscate.pytorch's main.py (--nce-k 4096, --nce-t 0.07,
// --nce-m 0.5, --low-dim 128: a linear layer to 128-d, L2-normalised);
// K 0 is its --nce-k 0, the non-parametric softmax over the whole bank
// (N × NumSamples logits a step). The head trains with Adam at lr 1e-3 and
// weight decay 1e-6, as the other heads of the Fashion-MNIST recipes; the
// host's optimizer trains the trunk.
type Config struct {
	K           int64   `param:"K" default:"4096" doc:"noise samples per feature (0: softmax over the whole bank)"`
	T           float64 `param:"T" default:"0.07" doc:"temperature (> 0)"`
	Momentum    float64 `param:"momentum" default:"0.5" doc:"memory bank momentum, in [0, 1]"`
	LowDim      int64   `param:"low_dim" default:"128" doc:"width of the head's output and the bank's rows"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.K < 0 || c.T <= 0 || c.Momentum < 0 || c.Momentum > 1 || c.LowDim <= 0 {
		return fmt.Errorf("K %d, T %v, momentum %v, low_dim %d: want K >= 0 (0: full softmax), T > 0, momentum in [0, 1], low_dim > 0", c.K, c.T, c.Momentum, c.LowDim)
	}
	return nil
}

// Def is InstDisc for the kit: one online view with MoCo v2's recipe
// (InstDisc's crop 0.2–1, jitter 0.4, grayscale 0.2 and flip; blur is
// dropped on small images), the pooled tap, and the images' sample ids.
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "InstDisc: NCE of per-sample features against a momentum memory bank (needs sample ids)",
	Spec: func(*Config) method.Spec {
		return method.Spec{Views: []method.View{{Name: "v1", Recipe: "mocov2", Online: true}}, SampleIDs: true}
	},
	Build: build,
	Loss:  loss,
}

// New returns an InstDisc method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh InstDisc methods.
func Constructor() method.Constructor { return methodkit.Constructor(Def) }

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// loss is NCELoss on roles x [N, D], memory [M, D] (detached), y [N] and
// sample_idx [N, K+1] with params T, Z, n_data (eps defaults to 1e-7); its
// state is the updated memory.
var loss = &methodkit.Loss[Config]{
	Roles: []string{"x", "memory"},
	Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
		z, err1 := p.Float("Z")
		eps, err2 := p.FloatOr("eps", Eps)
		y, err3 := r.Get("y")
		idx, err4 := r.Get("sample_idx")
		if err := methodkit.FirstErr(err1, err2, err3, err4); err != nil {
			return nil, err
		}
		x, memory := r["x"], r["memory"]
		nData := memory.MustSize()[0]
		if v, err := p.IntOr("n_data", nData); err != nil || v != nData {
			return nil, fmt.Errorf("n_data %d (%v) must equal the memory's rows %d", v, err, nData)
		}
		if err := checkShapes(x, memory, y, idx); err != nil {
			return nil, err
		}
		if z <= 0 {
			return nil, fmt.Errorf("Z %v must be positive", z)
		}
		return NCELoss(x, memory, idx, c.T, z, nData, eps), nil
	},
	State: func(r method.Tensors, c *Config, _ method.Params) (method.Tensors, error) {
		return method.Tensors{"memory": UpdateBank(r["memory"], r["x"], r["y"], c.Momentum)}, nil
	},
}

// Eps is the constant of NCECriterion's denominators.
const Eps = 1e-7

// Scores returns exp(memory[idx_ik] · x_i / T) for idx [N, K+1] (int64),
// x [N, D] and memory [M, D], as [N, K+1]; memory takes no gradient. The
// caller owns the result.
func Scores(x, memory, idx *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n, k1 := idx.MustSize()[0], idx.MustSize()[1]
	d := x.MustSize()[1]
	flat := s.T(idx.MustReshape([]int64{-1}, false))
	mem := s.T(memory.MustDetach(false))
	w := s.T(s.T(mem.MustIndexSelect(0, flat, false)).MustView([]int64{n, k1, d}, false))
	dots := s.T(s.T(w.MustBmm(s.T(x.MustUnsqueeze(2, false)), false)).MustSqueezeDim(2, false))
	return s.T(dots.MustDivScalar(ts.FloatScalar(t), false)).MustExp(false)
}

// EstimateZ is lemniscate's normalisation constant on its first call:
// Z = M · mean over all N(K+1) entries of exp(memory[idx] · x / T), with no
// gradient.
func EstimateZ(x, memory, idx *ts.Tensor, t float64) float64 {
	var z float64
	nn.NoGrad(func() {
		xd := x.MustDetach(false)
		defer xd.MustDrop()
		sc := Scores(xd, memory, idx, t)
		defer sc.MustDrop()
		z = diagnose(sc, t, memory.MustSize()[0]).zBatch
	})
	return z
}

// NCELoss is METHODS.md's instdisc loss (NCEAverage + NCECriterion): with
// P_ik = Scores_ik / Z and c = K / nData,
// loss = −(1/N)[Σ_i log(P_i0/(P_i0 + c + eps)) + Σ_i Σ_{k≥1} log(c/(P_ik + c + eps))].
// Z is a constant; memory takes no gradient. The caller owns the result.
func NCELoss(x, memory, idx *ts.Tensor, t, z float64, nData int64, eps float64) *ts.Tensor {
	sc := Scores(x, memory, idx, t)
	defer sc.MustDrop()
	return NCEFromScores(sc, z, nData, eps)
}

// NCEFromScores is NCELoss on scores [N, K+1] that Scores computed (column
// 0 the positives); the gradient flows through them. The caller owns the
// result.
func NCEFromScores(scores *ts.Tensor, z float64, nData int64, eps float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n, k1 := scores.MustSize()[0], scores.MustSize()[1]
	c := float64(k1-1) / float64(nData)
	p := s.T(scores.MustDivScalar(ts.FloatScalar(z), false))
	den := s.T(p.MustAddScalar(ts.FloatScalar(c+eps), false))
	pos := s.T(p.MustNarrow(1, 0, 1, false))
	posDen := s.T(den.MustNarrow(1, 0, 1, false))
	lnPos := s.T(s.T(pos.MustDiv(posDen, false)).MustLog(false))
	negDen := s.T(den.MustNarrow(1, 1, k1-1, false))
	// log(c / den) = log c − log den
	lnNeg := s.T(s.T(s.T(negDen.MustLog(false)).MustNeg(false)).MustAddScalar(ts.FloatScalar(math.Log(c)), false))
	total := s.T(s.T(lnPos.MustSum(p.DType(), false)).MustAdd(s.T(lnNeg.MustSum(p.DType(), false)), false))
	return total.MustDivScalar(ts.FloatScalar(-float64(n)), false)
}

// SoftmaxLoss is lemniscate's objective with --nce-k 0 (LinearAverage and
// CrossEntropyLoss): the non-parametric softmax over the whole bank,
// mean_i [logsumexp_j (memory_j · x_i / T) − memory_{y_i} · x_i / T], with
// memory taking no gradient. The caller owns the result.
func SoftmaxLoss(x, memory, y *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	mem := s.T(memory.MustDetach(false))
	logits := s.T(s.T(x.MustMatmul(s.T(mem.MustT(false)), false)).MustDivScalar(ts.FloatScalar(t), false))
	return nn.CrossEntropy(logits, y)
}

// UpdateBank returns memory with rows y replaced by
// normalize(m · memory[y] + (1 − m) · x), outside autograd; the caller owns
// the result.
func UpdateBank(memory, x, y *ts.Tensor, m float64) *ts.Tensor {
	var out *ts.Tensor
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		xd := s.T(x.MustDetach(false).MustTotype(memory.DType(), true))
		old := s.T(memory.MustIndexSelect(0, y, false))
		mixed := s.T(s.T(old.MustMulScalar(ts.FloatScalar(m), false)).MustAdd(s.T(xd.MustMulScalar(ts.FloatScalar(1-m), false)), false))
		out = memory.MustIndexCopy(0, y, s.T(nn.Normalize(mixed)), false)
	})
	return out
}

// checkShapes checks x [N, D], memory [M, D], y [N] and idx [N, K+1] with
// indices in [0, M).
func checkShapes(x, memory, y, idx *ts.Tensor) error {
	xs, ms, ys, is := x.MustSize(), memory.MustSize(), y.MustSize(), idx.MustSize()
	if len(xs) != 2 || len(ms) != 2 || xs[1] != ms[1] || !slices.Equal(ys, xs[:1]) || len(is) != 2 || is[0] != xs[0] || is[1] < 2 {
		return fmt.Errorf("x %v, memory %v, y %v, sample_idx %v: want [N, D], [M, D], [N], [N, K+1] with K >= 1", xs, ms, ys, is)
	}
	if x.DType() != memory.DType() {
		return fmt.Errorf("x is %v, memory %v: want one float dtype", x.DType(), memory.DType())
	}
	for name, t := range map[string]*ts.Tensor{"y": y, "sample_idx": idx} {
		if t.DType() != gotch.Int64 {
			return fmt.Errorf("%s is %v, want int64", name, t.DType())
		}
		lo, hi := minMax(t)
		if lo < 0 || hi >= ms[0] {
			return fmt.Errorf("%s has indices in [%d, %d], outside the memory's [0, %d)", name, lo, hi, ms[0])
		}
	}
	return nil
}

func minMax(t *ts.Tensor) (int64, int64) {
	c := t.MustTo(gotch.CPU, false).MustContiguous(true)
	defer c.MustDrop()
	v, err := tensor.Int64s(c)
	if err != nil || len(v) == 0 {
		return 0, 0
	}
	return slices.Min(v), slices.Max(v)
}

// stepper is InstDisc set up: a linear head to low_dim (L2-normalised),
// the memory bank [NumSamples, low_dim], and Z (negative until estimated).
type stepper struct {
	c     Config
	seed  int64 // Setup's seed: with the step, it seeds the step's noise draw
	nData int64
	head  *nn.Linear
	bank  *ts.Tensor
	z     float64
	zt    *ts.Tensor // Z as saved, borrowed by the state until the next Save

	x, y  *ts.Tensor // the step's features and ids, for AfterUpdate
	zStep float64    // the Z the step used
}

// build makes the head (Linear(D, low_dim)), Adam, and the bank of
// NumSamples rows drawn as lemniscate does (uniform in ±1/sqrt(low_dim/3)),
// from the seeded source in that order.
func build(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
	if h.NumSamples <= 0 {
		return nil, fmt.Errorf("NumSamples is %d; the host must give the training set's size to size the memory bank", h.NumSamples)
	}
	m := &stepper{c: *c, seed: h.Seed, nData: h.NumSamples, z: -1}
	var err error
	if m.head, err = nn.NewLinear(h.Sub("proj"), h.Rng, h.Dim, c.LowDim, true); err != nil {
		return m, err
	}
	if err := h.Adam(c.LR, c.WeightDecay); err != nil {
		return m, err
	}
	stdv := 1 / math.Sqrt(float64(c.LowDim)/3)
	m.bank, err = nn.Uniform(h.Rng, -stdv, stdv, h.Dev, m.nData, c.LowDim)
	return m, err
}

// noise draws sample_idx [N, K+1]: column 0 the ids, the others uniform in
// [0, nData) (lemniscate's alias sampler over a uniform distribution),
// from a generator seeded by (seed, step), so a resumed run draws the same.
func (m *stepper) noise(ids []int64, step int64) (*ts.Tensor, error) {
	rng := nn.NewRand(m.seed*1_000_003 + step)
	k1 := m.c.K + 1
	v := make([]int64, int64(len(ids))*k1)
	for i, id := range ids {
		v[int64(i)*k1] = id
		for j := int64(1); j < k1; j++ {
			v[int64(i)*k1+j] = rng.Int64N(m.nData)
		}
	}
	return tensor.FromInt64(v, int64(len(ids)), k1)
}

// Forward: features → head → L2 normalisation → NCE against the bank (Z
// estimated on the first training step), or with K 0 the softmax over the
// whole bank. Its metrics in NCE mode: Z;
// Z_ratio, the batch's own estimate of Z over the one in use (1 on the first
// step; far above 1 when the bank's rows crowd the features, so that noise
// scores swamp c = K/M); pos_cos and noise_cos, the mean cosine of the
// features with their own bank rows and with the noise rows (with K 0,
// pos_cos only).
func (m *stepper) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	sid, err := s.SampleIDs()
	if err != nil {
		return nil, err
	}
	idc := s.T(sid.MustTo(gotch.CPU, false).MustTotype(gotch.Int64, true))
	ids, err := tensor.Int64s(idc)
	if err != nil {
		return nil, fmt.Errorf("sample ids: %w", err)
	}
	if int64(len(ids)) != s.N {
		return nil, fmt.Errorf("%d sample ids for %d features", len(ids), s.N)
	}
	for _, id := range ids {
		if id < 0 || id >= m.nData {
			return nil, fmt.Errorf("sample id %d outside the bank's [0, %d); set NumSamples to the training set's size", id, m.nData)
		}
	}
	idx, err := m.noise(ids, s.Index)
	if err != nil {
		return nil, err
	}
	idx = s.T(idx.MustTo(s.Heads.Dev, true))
	m.y = s.T(idx.MustSelect(1, 0, false))
	m.x = s.T(nn.Normalize(s.T(m.head.Forward(s.Online("v1")))))
	if m.c.K == 0 {
		loss := SoftmaxLoss(m.x, m.bank, m.y, m.c.T)
		s.Metric("pos_cos", positiveCos(m.x, m.bank, m.y))
		return loss, nil
	}
	sc := s.T(Scores(m.x, m.bank, idx, m.c.T))
	diag := diagnose(sc, m.c.T, m.nData)
	m.zStep = m.z
	if m.zStep <= 0 {
		m.zStep = diag.zBatch // EstimateZ's value, from the same scores
	}
	s.Metric("Z", m.zStep)
	s.Metric("Z_ratio", diag.zBatch/m.zStep)
	s.Metric("pos_cos", diag.pos)
	s.Metric("noise_cos", diag.noise)
	return NCEFromScores(sc, m.zStep, m.nData, Eps), nil
}

// AfterUpdate fixes Z on the first training step and moves the batch's
// bank rows toward its features.
func (m *stepper) AfterUpdate(*methodkit.Step) error {
	if m.c.K > 0 && m.z <= 0 {
		m.z = m.zStep
	}
	nb := UpdateBank(m.bank, m.x, m.y, m.c.Momentum)
	m.bank.MustDrop()
	m.bank, m.x, m.y = nb, nil, nil
	return nil
}

// diagnosis is what a step's scores say about the bank: the batch's own
// estimate of Z (M · mean score), and the mean cosine of the features with
// their positive bank rows and with the noise rows.
type diagnosis struct{ zBatch, pos, noise float64 }

// diagnose reads scores [N, K+1] = exp(cos/T) without gradient.
func diagnose(scores *ts.Tensor, t float64, nData int64) diagnosis {
	var d diagnosis
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		sc := s.T(scores.MustDetach(false))
		k1 := sc.MustSize()[1]
		cos := s.T(s.T(sc.MustLog(false)).MustMulScalar(ts.FloatScalar(t), false))
		d.zBatch = nn.Item(s.T(sc.MustMean(gotch.Double, false))) * float64(nData)
		d.pos = nn.Item(s.T(s.T(cos.MustNarrow(1, 0, 1, false)).MustMean(gotch.Double, false)))
		d.noise = nn.Item(s.T(s.T(cos.MustNarrow(1, 1, k1-1, false)).MustMean(gotch.Double, false)))
	})
	return d
}

// positiveCos is the mean of memory[y_i] · x_i, without gradient.
func positiveCos(x, memory, y *ts.Tensor) float64 {
	var c float64
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		pos := s.T(memory.MustIndexSelect(0, y, false))
		dots := s.T(s.T(pos.MustMul(s.T(x.MustDetach(false)), false)).MustSum(gotch.Double, false))
		c = nn.Item(dots) / float64(y.MustSize()[0])
	})
	return c
}

func (m *stepper) SaveState(st *methodkit.State) {
	if m.zt != nil {
		m.zt.MustDrop()
	}
	var err error
	if m.zt, err = tensor.FromFloat64([]float64{m.z}, 1); err != nil {
		panic(err) // one value always fills the shape
	}
	st.Tensors["bank"] = m.bank
	st.Tensors["Z"] = m.zt
}

func (m *stepper) LoadState(st *methodkit.State) error {
	b, err := st.Tensor("bank")
	if err != nil {
		return err
	}
	zt, err := st.Tensor("Z")
	if err != nil {
		return err
	}
	if s := b.MustSize(); !slices.Equal(s, []int64{m.nData, m.c.LowDim}) {
		return fmt.Errorf("saved bank %v, set up for [%d, %d]; set up with the saved config and data set", s, m.nData, m.c.LowDim)
	}
	z, err := tensor.Float64s(zt)
	if err != nil || len(z) != 1 {
		return fmt.Errorf("saved Z is not one number (%d values, %v); load a state saved by instdisc", len(z), err)
	}
	nb := b.MustTo(m.bank.MustDevice(), false).MustTotype(gotch.Float, true).MustContiguous(true)
	m.bank.MustDrop()
	m.bank, m.z = nb, z[0]
	return nil
}

func (m *stepper) Release() {
	for _, t := range []*ts.Tensor{m.bank, m.zt} {
		if t != nil {
			t.MustDrop()
		}
	}
	m.bank, m.zt = nil, nil
}
