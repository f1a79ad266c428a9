package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// ProbeOptions are the settings of the linear probe. The zero value means
// the standard protocol on raw features: 30 epochs, batch 256, Adam
// lr 1e-3, seed 0.
type ProbeOptions struct {
	// Epochs is the number of passes over the training features; zero
	// means 30.
	Epochs int `json:"epochs"`
	// BatchSize is the number of features per step; zero means 256. The
	// last batch of an epoch may be smaller (it is kept).
	BatchSize int `json:"batch_size"`
	// LR is Adam's learning rate; zero means 1e-3.
	LR float64 `json:"lr"`
	// Normalize L2-normalises every feature first ("linear_l2");
	// otherwise the probe sees the features as they are ("linear_raw").
	Normalize bool `json:"normalize"`
	// Standardize z-scores every dimension with the training features'
	// mean and standard deviation (+1e-6) first. It is not part of the
	// standard protocol (the reference's eval_ckpt.py reports it as an
	// extra); it cannot be combined with Normalize.
	Standardize bool `json:"standardize,omitempty"`
	// Seed picks the initial weights and the order of the batches.
	Seed uint64 `json:"seed"`
	// Classes is the number of classes; zero means 1 + the largest label.
	Classes int `json:"classes,omitempty"`
	// Progress, when set, is called after each epoch with the epoch
	// (1-based), the number of epochs and the test accuracy.
	Progress func(epoch, epochs int, testAccuracy float64) `json:"-"`
	// Trained, when set, receives every probe LinearProbe has trained: the
	// options it ran with (defaults filled in) and its result, Weight and
	// Bias included. Evaluate runs two probes with one ProbeOptions; tell
	// them apart by opts.Normalize (false: the raw-feature probe).
	Trained func(opts ProbeOptions, res ProbeResult) `json:"-"`
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.Epochs <= 0 {
		o.Epochs = 30
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	return o
}

// ProbeResult is the outcome of LinearProbe.
type ProbeResult struct {
	// Accuracy is the test accuracy after the last epoch, in percent (the
	// number the reference reports).
	Accuracy float64 `json:"accuracy"`
	// TestAccuracy is the test accuracy after each epoch, in percent.
	TestAccuracy []float64 `json:"test_accuracy"`
	// TrainLoss is the mean cross-entropy of each epoch's training steps.
	TrainLoss []float64 `json:"train_loss"`
	// Weight [C][D] and Bias [C] are the trained classifier in the layout
	// of PyTorch's nn.Linear: logits = x·Weightᵀ + Bias, for x a feature as
	// the probe saw it (as extracted, L2-normalised with Normalize,
	// z-scored with Standardize). SaveLinear writes them.
	Weight [][]float32 `json:"-"`
	Bias   []float32   `json:"-"`
}

// Adam's constants (PyTorch's defaults); the probe uses no weight decay.
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// LinearProbe trains a linear classifier (one linear layer with bias, no
// hidden layer) on frozen features with softmax cross-entropy and Adam,
// and reports its test accuracy, as the reference's linear_probe does:
// weights and bias start uniform in ±1/√D (torch.nn.Linear's init), each
// epoch visits the training features in a new random order in batches of
// BatchSize (the last one short), no weight decay, no augmentation, and
// the accuracy after the last epoch is the result.
//
// It is deterministic under opts.Seed: the initial weights come from a
// PCG generator and the batch order from data.Permutation(N, Seed,
// epoch), not from libtorch's global generator. Gradients are the
// closed form of the linear layer's cross-entropy, so no autograd graph
// is built. It runs in float32 on the device the features are on.
func LinearProbe(ctx context.Context, train *ts.Tensor, trainLabels []int, test *ts.Tensor, testLabels []int, opts ProbeOptions) (ProbeResult, error) {
	opts = opts.withDefaults()
	nTrain, d, err := checkFeatures("train", train)
	if err != nil {
		return ProbeResult{}, err
	}
	nTest, dTest, err := checkFeatures("test", test)
	if err != nil {
		return ProbeResult{}, err
	}
	if d != dTest {
		return ProbeResult{}, fmt.Errorf("eval: linear probe: train features have %d dimensions and test features %d; extract both with the same encoder", d, dTest)
	}
	classes := numClasses(opts.Classes, trainLabels, testLabels)
	if err := checkLabels("train", trainLabels, nTrain, classes); err != nil {
		return ProbeResult{}, err
	}
	if err := checkLabels("test", testLabels, nTest, classes); err != nil {
		return ProbeResult{}, err
	}
	if opts.Normalize && opts.Standardize {
		return ProbeResult{}, fmt.Errorf("eval: linear probe: both Normalize and Standardize are set; pick one")
	}
	if !(opts.LR > 0) {
		return ProbeResult{}, fmt.Errorf("eval: linear probe learning rate %v; want lr > 0 (the standard is 1e-3)", opts.LR)
	}
	device, err := sameDevice(train, test)
	if err != nil {
		return ProbeResult{}, err
	}

	s := tensor.NewScope()
	defer s.Close()
	xtr, xte := probeInputs(train, test, opts)
	s.T(xtr)
	s.T(xte)
	ytr, err := labelTensor(trainLabels, device)
	if err != nil {
		return ProbeResult{}, err
	}
	s.T(ytr)
	yte, err := labelTensor(testLabels, device)
	if err != nil {
		return ProbeResult{}, err
	}
	s.T(yte)
	ytr = s.T(ytr.MustView([]int64{nTrain, 1}, false))

	p, err := newLinear(d, int64(classes), opts.Seed, device)
	if err != nil {
		return ProbeResult{}, err
	}
	defer p.drop()

	res := ProbeResult{}
	n := int(nTrain)
	for epoch := range opts.Epochs {
		if err := ctx.Err(); err != nil {
			return ProbeResult{}, fmt.Errorf("eval: linear probe stopped before epoch %d of %d: %w", epoch+1, opts.Epochs, err)
		}
		loss, err := p.epoch(xtr, ytr, data.Permutation(n, opts.Seed, epoch), opts.BatchSize, opts.LR)
		if err != nil {
			return ProbeResult{}, err
		}
		acc := p.accuracy(xte, yte)
		res.TestAccuracy = append(res.TestAccuracy, acc)
		res.TrainLoss = append(res.TrainLoss, loss)
		if opts.Progress != nil {
			opts.Progress(epoch+1, opts.Epochs, acc)
		}
	}
	res.Accuracy = res.TestAccuracy[len(res.TestAccuracy)-1]
	if res.Weight, res.Bias, err = p.split(); err != nil {
		return ProbeResult{}, err
	}
	if opts.Trained != nil {
		opts.Trained(opts, res)
	}
	return res, nil
}

// SaveLinear writes a Linear(D, C) classifier as a safetensors file:
// "weight" [C, D] and "bias" [C], float32, the layout of PyTorch's
// nn.Linear state_dict and of the teacher_head that simclrv2_distill reads.
// metadata is stored as the file's metadata (it may be nil).
func SaveLinear(path string, weight [][]float32, bias []float32, metadata map[string]string) error {
	c := len(weight)
	if c == 0 || len(bias) != c {
		return fmt.Errorf("eval: save linear classifier %s: %d weight rows and %d biases; want C ≥ 1 of each (train the probe first)", path, c, len(bias))
	}
	d := len(weight[0])
	flat := make([]float32, 0, c*d)
	for i, row := range weight {
		if len(row) != d {
			return fmt.Errorf("eval: save linear classifier %s: weight row %d has %d values, row 0 %d", path, i, len(row), d)
		}
		flat = append(flat, row...)
	}
	w, err := tensor.FromFloat32(flat, int64(c), int64(d))
	if err != nil {
		return fmt.Errorf("eval: save linear classifier %s: %w", path, err)
	}
	defer w.MustDrop()
	b, err := tensor.FromFloat32(slices.Clone(bias), int64(c))
	if err != nil {
		return fmt.Errorf("eval: save linear classifier %s: %w", path, err)
	}
	defer b.MustDrop()
	meta := map[string]string{"format": "pt"}
	for k, v := range metadata {
		meta[k] = v
	}
	if err := safetensors.WriteFile(path, map[string]*ts.Tensor{"weight": w, "bias": b}, meta); err != nil {
		return fmt.Errorf("eval: save linear classifier: %w", err)
	}
	return nil
}

// probeInputs returns the training and test features as the probe sees
// them: float32, preprocessed as opts say, with a column of ones appended
// that carries the bias (so weight and bias are one matrix [D+1, C] and
// one Adam update). Intermediate copies are freed as it goes.
func probeInputs(train, test *ts.Tensor, opts ProbeOptions) (xtr, xte *ts.Tensor) {
	xtr, xte = asType(train, gotch.Float), asType(test, gotch.Float)
	switch {
	case opts.Normalize:
		xtr, xte = owned(l2Normalize, xtr), owned(l2Normalize, xte)
	case opts.Standardize:
		mu := xtr.MustMeanDim([]int64{0}, true, gotch.Float, false)
		defer mu.MustDrop()
		sd := xtr.MustStdDim([]int64{0}, true, true, false)
		defer sd.MustDrop()
		sd.MustAddScalar_(ts.FloatScalar(1e-6))
		z := func(x *ts.Tensor) *ts.Tensor {
			c := x.MustSub(mu, false)
			defer c.MustDrop()
			return c.MustDiv(sd, false)
		}
		xtr, xte = owned(z, xtr), owned(z, xte)
	}
	return owned(withOnes, xtr), owned(withOnes, xte)
}

// withOnes returns [x, 1]: x [N, D] with a column of ones appended.
func withOnes(x *ts.Tensor) *ts.Tensor {
	shape := x.MustSize()
	ones := ts.MustOnes([]int64{shape[0], 1}, x.DType(), x.MustDevice())
	defer ones.MustDrop()
	return ts.MustCat([]*ts.Tensor{x, ones}, 1)
}

// linear is the probe: logits = [x, 1]·W, where the last row of W is
// the bias; m and v are Adam's moments.
type linear struct {
	w, m, v *ts.Tensor // [D+1, C]
	t       int        // Adam steps taken
	device  gotch.Device
}

// newLinear makes a probe of d inputs and c classes with weights and
// bias uniform in ±1/√d (torch.nn.Linear's init) drawn from a PCG
// generator seeded with seed.
func newLinear(d, c int64, seed uint64, device gotch.Device) (*linear, error) {
	rng := rand.New(rand.NewPCG(seed, 0x11ea7))
	bound := 1 / math.Sqrt(float64(d))
	v := make([]float32, (d+1)*c)
	for i := range v {
		v[i] = float32(bound * (2*rng.Float64() - 1))
	}
	w, err := tensor.FromFloat32(v, d+1, c)
	if err != nil {
		return nil, fmt.Errorf("eval: linear probe weights: %w", err)
	}
	if device != gotch.CPU {
		w = w.MustTo(device, true)
	}
	return &linear{w: w, m: w.MustZerosLike(false), v: w.MustZerosLike(false), device: device}, nil
}

// split returns the probe's W [D+1, C] as nn.Linear's weight [C][D] (Wᵀ
// without the last row) and bias [C] (W's last row, the weight of the
// column of ones).
func (l *linear) split() ([][]float32, []float32, error) {
	size := l.w.MustSize()
	d, c := int(size[0])-1, int(size[1])
	w := l.w
	if l.device != gotch.CPU {
		w = l.w.MustTo(gotch.CPU, false)
		defer w.MustDrop()
	}
	v, err := tensor.Float32s(w)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: linear probe weights: %w", err)
	}
	weight := make([][]float32, c)
	for k := range weight {
		weight[k] = make([]float32, d)
		for j := range d {
			weight[k][j] = v[j*c+k]
		}
	}
	return weight, slices.Clone(v[d*c:]), nil
}

func (l *linear) drop() {
	l.w.MustDrop()
	l.m.MustDrop()
	l.v.MustDrop()
}

// epoch takes one Adam step per batch of the rows of x [N, D+1] and
// y [N, 1] in the order perm, and returns the epoch's mean
// cross-entropy. The rows are gathered in that order once, so each
// batch is a slice of consecutive rows.
func (l *linear) epoch(x, y *ts.Tensor, perm []int, batch int, lr float64) (float64, error) {
	s := tensor.NewScope()
	defer s.Close()
	idx := make([]int64, len(perm))
	for i, p := range perm {
		idx[i] = int64(p)
	}
	it, err := tensor.FromInt64(idx, int64(len(idx)))
	if err != nil {
		return 0, fmt.Errorf("eval: linear probe order: %w", err)
	}
	s.T(it)
	if l.device != gotch.CPU {
		it = s.T(it.MustTo(l.device, false))
	}
	xp := s.T(x.MustIndexSelect(0, it, false))
	yp := s.T(y.MustIndexSelect(0, it, false))
	n := int64(len(perm))
	lossSum := 0.0
	for lo := int64(0); lo < n; lo += int64(batch) {
		b := min(int64(batch), n-lo)
		lossSum += l.step(xp, yp, lo, b, lr)
	}
	return lossSum / float64(n), nil
}

// step takes one Adam step on rows [lo, lo+b) of x and y and returns the
// batch's summed cross-entropy.
func (l *linear) step(x, y *ts.Tensor, lo, b int64, lr float64) float64 {
	s := tensor.NewScope()
	defer s.Close()
	xb := s.T(x.MustNarrow(0, lo, b, false))
	yb := s.T(y.MustNarrow(0, lo, b, false))
	gw, loss := l.grad(s, xb, yb)
	l.t++
	adam(s, l.w, gw, l.m, l.v, l.t, lr)
	return loss
}

// grad returns the gradient of the mean cross-entropy of the batch x [B,
// D+1], y [B, 1] with respect to W (a tensor in s), and the summed
// cross-entropy. With p = softmax(x·W), the gradient is
// xᵀ·(p − onehot(y)) / B: the closed form of what autograd computes for
// a linear layer.
func (l *linear) grad(s *tensor.Scope, xb, yb *ts.Tensor) (*ts.Tensor, float64) {
	b := xb.MustSize()[0]
	logits := s.T(xb.MustMm(l.w, false))
	logp := s.T(logits.MustLogSoftmax(1, gotch.Float, false))
	picked := s.T(logp.MustGather(1, yb, false, false))
	loss := -s.T(picked.MustSum(gotch.Double, false)).MustFloat64Value([]int64{})
	g := s.T(logp.MustExp(false))
	onehot := s.T(s.T(g.MustZerosLike(false)).MustScatterValue(1, yb, ts.FloatScalar(1), false))
	g.MustSub_(onehot)
	gw := s.T(s.T(xb.MustT(false)).MustMm(g, false))
	gw.MustDivScalar_(ts.FloatScalar(float64(b)))
	return gw, loss
}

// adam updates p in place from its gradient g as torch.optim.Adam
// (betas 0.9/0.999, eps 1e-8, no weight decay, no amsgrad) does,
//
//	m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
//	p ← p − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε),
//
// with the last line computed as p − (lr·√c₂/c₁) · m / (√v + ε√c₂), the
// same value in fewer tensor operations (c₁, c₂ the bias corrections).
func adam(s *tensor.Scope, p, g, m, v *ts.Tensor, t int, lr float64) {
	m.MustMulScalar_(ts.FloatScalar(adamBeta1))
	gm := s.T(g.MustMulScalar(ts.FloatScalar(1-adamBeta1), false))
	m.MustAdd_(gm)
	gv := s.T(g.MustMulScalar(ts.FloatScalar(math.Sqrt(1-adamBeta2)), false))
	v.MustMulScalar_(ts.FloatScalar(adamBeta2))
	v.MustAddcmul_(gv, gv)
	c1 := 1 - math.Pow(adamBeta1, float64(t))
	c2 := math.Sqrt(1 - math.Pow(adamBeta2, float64(t)))
	denom := s.T(v.MustSqrt(false))
	denom.MustAddScalar_(ts.FloatScalar(adamEps * c2))
	upd := s.T(m.MustDiv(denom, false))
	upd.MustMulScalar_(ts.FloatScalar(lr * c2 / c1))
	p.MustSub_(upd)
}

// accuracy is the top-1 accuracy of the probe on x [N, D+1] and y [N],
// in percent.
func (l *linear) accuracy(x, y *ts.Tensor) float64 {
	s := tensor.NewScope()
	defer s.Close()
	logits := s.T(x.MustMm(l.w, false))
	pred := s.T(logits.MustArgmax([]int64{1}, false, false))
	hits := s.T(s.T(pred.MustEqTensor(y, false)).MustSum(gotch.Int64, false))
	n := y.MustSize()[0]
	return 100 * float64(hits.MustInt64Value([]int64{})) / float64(n)
}
