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
	"context"
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

// Constructor makes fresh InstDisc methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "InstDisc: NCE of per-sample features against a momentum memory bank (needs sample ids)",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults follow lemniscate.pytorch's main.py (--nce-k 4096, --nce-t 0.07,
// --nce-m 0.5, --low-dim 128: a linear layer to 128-d, L2-normalised);
// K 0 is its --nce-k 0, the non-parametric softmax over the whole bank
// (N × NumSamples logits a step). The
// head trains with Adam at lr 1e-3 and weight decay 1e-6, as the other
// heads of the Fashion-MNIST recipes; the host's optimizer trains the trunk.
func Defaults() method.Params {
	return method.Params{
		"K": int64(4096), "T": 0.07, "momentum": 0.5, "low_dim": int64(128),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// Eps is the constant of NCECriterion's denominators.
const Eps = 1e-7

// feature is the key of the one view's pooled features.
var feature = method.FeatureKey("v1", "pooled", false)

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

// Method is InstDisc: a linear head to low_dim (L2-normalised), the memory
// bank [NumSamples, low_dim], and Z (negative until estimated).
type Method struct {
	h      nn.Heads // head, optimizer and counters
	head   *nn.Linear
	bank   *ts.Tensor
	z      float64
	k      int64
	t, mom float64
	seed   int64
	nData  int64
	lowDim int64
}

// New returns an InstDisc method that still needs Setup (Loss works at once).
func New() *Method { return &Method{h: nn.Heads{Name: Name}, z: -1} }

// Spec: one online view with MoCo v2's recipe (InstDisc's crop 0.2–1,
// jitter 0.4, grayscale 0.2 and flip; blur is dropped on small images),
// the pooled tap, and the images' sample ids.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name:      Name,
		Views:     []method.View{{Name: "v1", Recipe: "mocov2", Online: true}},
		SampleIDs: true,
		Defaults:  Defaults(),
	}
}

// Setup builds the head (Linear(D, low_dim)), Adam, and the bank of
// NumSamples rows drawn as lemniscate does (uniform in ±1/sqrt(low_dim/3)),
// all from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [6]error
	var lr, wd float64
	m.k, errs[0] = p.Int("K")
	m.t, errs[1] = p.Float("T")
	m.mom, errs[2] = p.Float("momentum")
	m.lowDim, errs[3] = p.Int("low_dim")
	lr, errs[4] = p.Float("lr")
	wd, errs[5] = p.Float("weight_decay")
	for _, e := range errs {
		if e != nil {
			return method.SetupResponse{}, fmt.Errorf("instdisc setup: %w", e)
		}
	}
	if m.k < 0 || m.t <= 0 || m.mom < 0 || m.mom > 1 || m.lowDim <= 0 {
		return method.SetupResponse{}, fmt.Errorf("instdisc setup: K %d, T %v, momentum %v, low_dim %d: want K >= 0 (0: full softmax), T > 0, momentum in [0, 1], low_dim > 0", m.k, m.t, m.mom, m.lowDim)
	}
	if req.NumSamples <= 0 {
		return method.SetupResponse{}, fmt.Errorf("instdisc setup: NumSamples is %d; the host must give the training set's size to size the memory bank", req.NumSamples)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.release()
	m.nData, m.seed, m.z = req.NumSamples, req.Seed, -1
	rng := nn.NewRand(req.Seed)
	if m.head, err = nn.NewLinear(m.h.VS.Root().Sub("proj"), rng, m.h.Dim, m.lowDim, true); err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err == nil {
		stdv := 1 / math.Sqrt(float64(m.lowDim)/3)
		m.bank, err = nn.Uniform(rng, -stdv, stdv, m.h.Dev, m.nData, m.lowDim)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("instdisc setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates NCELoss on roles x [N, D], memory [M, D] (detached), y [N]
// and sample_idx [N, K+1] with params T, Z, n_data (eps defaults to 1e-7),
// and returns the updated memory as state.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err1 := in.Params.Float("T")
	z, err2 := in.Params.Float("Z")
	mom, err3 := in.Params.Float("momentum")
	eps, err4 := in.Params.FloatOr("eps", Eps)
	for _, e := range []error{err1, err2, err3, err4} {
		if e != nil {
			return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", e)
		}
	}
	y, err := in.IntInputs.Get("y")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", err)
	}
	idx, err := in.IntInputs.Get("sample_idx")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "x", "memory")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", err)
	}
	defer l.Drop()
	x, memory := l.T("x"), l.T("memory")
	nData := memory.MustSize()[0]
	if v, err := in.Params.IntOr("n_data", nData); err != nil || v != nData {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: n_data %d (%v) must equal the memory's rows %d", v, err, nData)
	}
	if err := checkShapes(x, memory, y, idx); err != nil {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", err)
	}
	if t <= 0 || z <= 0 {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: T %v, Z %v: both must be positive", t, z)
	}
	loss := NCELoss(x, memory, idx, t, z, nData, eps)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("instdisc loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{"memory": UpdateBank(memory, x, y, mom)}}, nil
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

// noise draws sample_idx [N, K+1]: column 0 the ids, the others uniform in
// [0, nData) (lemniscate's alias sampler over a uniform distribution),
// from a generator seeded by (seed, step), so a resumed run draws the same.
func (m *Method) noise(ids []int64, step int64) (*ts.Tensor, error) {
	rng := nn.NewRand(m.seed*1_000_003 + step)
	k1 := m.k + 1
	v := make([]int64, int64(len(ids))*k1)
	for i, id := range ids {
		v[int64(i)*k1] = id
		for j := int64(1); j < k1; j++ {
			v[int64(i)*k1+j] = rng.Int64N(m.nData)
		}
	}
	return tensor.FromInt64(v, int64(len(ids)), k1)
}

// Step: features → head → L2 normalisation → NCE against the bank (Z
// estimated on the first training step), or with K 0 the softmax over the
// whole bank; head update, and the bank update with momentum for the
// batch's ids (training only). Its metrics in NCE mode: Z;
// Z_ratio, the batch's own estimate of Z over the one in use (1 on the first
// step; far above 1 when the bank's rows crowd the features, so that noise
// scores swamp c = K/M); pos_cos and noise_cos, the mean cosine of the
// features with their own bank rows and with the noise rows (with K 0,
// pos_cos only).
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := req.Features.Get(feature)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("instdisc step: %w; the host must send the views of the Spec", err)
	}
	fs := f.MustSize()
	if len(fs) != 2 || fs[1] != m.h.Dim || (f.DType() != gotch.Float && f.DType() != gotch.Double) {
		return method.StepResponse{}, fmt.Errorf("instdisc step: feature %s is %v %v, want float [N, %d]", feature, f.DType(), fs, m.h.Dim)
	}
	if req.SampleIDs == nil {
		return method.StepResponse{}, fmt.Errorf("instdisc step: no sample ids; the host must send StepRequest.SampleIDs (the Spec asks for them)")
	}
	idc := req.SampleIDs.MustTo(gotch.CPU, false).MustTotype(gotch.Int64, true)
	ids, err := tensor.Int64s(idc)
	idc.MustDrop()
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("instdisc step: sample ids: %w", err)
	}
	if int64(len(ids)) != fs[0] {
		return method.StepResponse{}, fmt.Errorf("instdisc step: %d sample ids for %d features", len(ids), fs[0])
	}
	for _, id := range ids {
		if id < 0 || id >= m.nData {
			return method.StepResponse{}, fmt.Errorf("instdisc step: sample id %d outside the bank's [0, %d); set NumSamples to the training set's size", id, m.nData)
		}
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	idx, err := m.noise(ids, req.Step)
	if err != nil {
		return method.StepResponse{}, err
	}
	idx = s.T(idx.MustTo(m.h.Dev, true))
	y := s.T(idx.MustSelect(1, 0, false))
	leaf := s.T(nn.Leaf(f))
	x := methodkit.ToHead(s, leaf, m.h.Dev)
	z := s.T(nn.Normalize(s.T(m.head.Forward(x))))
	var loss *ts.Tensor
	var metrics map[string]float64
	if m.k == 0 {
		loss = s.T(SoftmaxLoss(z, m.bank, y, m.t))
		metrics = map[string]float64{"pos_cos": positiveCos(z, m.bank, y)}
	} else {
		sc := s.T(Scores(z, m.bank, idx, m.t))
		diag := diagnose(sc, m.t, m.nData)
		zc := m.z
		if zc <= 0 {
			zc = diag.zBatch // EstimateZ's value, from the same scores
			if req.Train {
				m.z = zc
			}
		}
		loss = s.T(NCEFromScores(sc, zc, m.nData, Eps))
		metrics = map[string]float64{"Z": zc, "Z_ratio": diag.zBatch / zc, "pos_cos": diag.pos, "noise_cos": diag.noise}
	}
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("instdisc step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
		nb := UpdateBank(m.bank, z, y, m.mom)
		m.bank.MustDrop()
		m.bank = nb
	}
	g, err := nn.Grad(leaf)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("instdisc step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: metrics, Grads: method.Tensors{feature: g}}, nil
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

// Save writes the head, the optimizer, the bank and Z.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.h.Ready(); err != nil {
		return nil, err
	}
	zt, err := tensor.FromFloat64([]float64{m.z}, 1)
	if err != nil {
		return nil, err
	}
	defer zt.MustDrop()
	return m.h.Save(func(st *nn.State) {
		st.Tensors["bank"] = m.bank
		st.Tensors["Z"] = zt
	})
}

// Load restores what Save wrote into a method set up with the same config
// and NumSamples.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, func(st *nn.State) error {
		b, err := st.Tensor("bank")
		if err != nil {
			return err
		}
		zt, err := st.Tensor("Z")
		if err != nil {
			return err
		}
		if s := b.MustSize(); !slices.Equal(s, []int64{m.nData, m.lowDim}) {
			return fmt.Errorf("saved bank %v, set up for [%d, %d]; set up with the saved config and data set", s, m.nData, m.lowDim)
		}
		z, err := tensor.Float64s(zt)
		if err != nil || len(z) != 1 {
			return fmt.Errorf("saved Z: %v", err)
		}
		nb := b.MustTo(m.h.Dev, false).MustTotype(gotch.Float, true).MustContiguous(true)
		m.bank.MustDrop()
		m.bank, m.z = nb, z[0]
		return nil
	})
}

// Close frees the head, the optimizer and the bank.
func (m *Method) Close() error {
	m.h.Release()
	m.release()
	return nil
}

func (m *Method) release() {
	if m.bank != nil {
		m.bank.MustDrop()
		m.bank = nil
	}
	m.head = nil
}
