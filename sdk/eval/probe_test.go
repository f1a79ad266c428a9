package eval

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// blobs returns n points of d dimensions around one of classes well
// separated centres (5 on the axis of the class), with their labels.
func blobs(rng *rand.Rand, n, d, classes int) ([][]float64, []int) {
	rows := gaussianRows(rng, n, d)
	labels := make([]int, n)
	for i := range rows {
		labels[i] = i % classes
		for j := range rows[i] {
			rows[i][j] *= 0.5
		}
		rows[i][labels[i]] += 5
	}
	return rows, labels
}

func TestLinearProbeLearnsSeparableData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	train, ytr := blobs(rng, 600, 8, 3)
	test, yte := blobs(rng, 150, 8, 3)
	xtr, xte := matrix(t, train), matrix(t, test)
	defer xtr.MustDrop()
	defer xte.MustDrop()
	for _, c := range []struct {
		name string
		opts ProbeOptions
	}{
		{"raw", ProbeOptions{Epochs: 10, LR: 0.05}},
		{"l2", ProbeOptions{Epochs: 10, LR: 0.05, Normalize: true}},
		{"standardized", ProbeOptions{Epochs: 10, LR: 0.05, Standardize: true}},
		{"batch larger than the data", ProbeOptions{Epochs: 30, LR: 0.05, BatchSize: 1000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var epochs []int
			c.opts.Progress = func(e, n int, _ float64) { epochs = append(epochs, e) }
			got, err := LinearProbe(context.Background(), xtr, ytr, xte, yte, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.Accuracy != 100 {
				t.Errorf("accuracy %v on separable blobs, want 100; curve %v", got.Accuracy, got.TestAccuracy)
			}
			n := c.opts.Epochs
			if len(got.TestAccuracy) != n || len(got.TrainLoss) != n || len(epochs) != n {
				t.Fatalf("%d accuracies, %d losses, %d progress calls; want %d each", len(got.TestAccuracy), len(got.TrainLoss), len(epochs), n)
			}
			if got.Accuracy != got.TestAccuracy[n-1] {
				t.Errorf("Accuracy %v is not the last epoch's %v", got.Accuracy, got.TestAccuracy[n-1])
			}
			if !(got.TrainLoss[n-1] < got.TrainLoss[0]) {
				t.Errorf("train loss did not fall: %v", got.TrainLoss)
			}
		})
	}
}

func TestLinearProbeDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	train, ytr := blobs(rng, 300, 5, 4)
	for i := range train { // overlap the classes so the curves differ
		for j := range train[i] {
			train[i][j] += 3 * rng.NormFloat64()
		}
	}
	xtr := matrix(t, train)
	defer xtr.MustDrop()
	run := func(seed uint64) ProbeResult {
		r, err := LinearProbe(context.Background(), xtr, ytr, xtr, ytr, ProbeOptions{Epochs: 3, BatchSize: 32, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := run(5), run(5), run(6)
	if !slices.Equal(a.TrainLoss, b.TrainLoss) || !slices.Equal(a.TestAccuracy, b.TestAccuracy) {
		t.Errorf("same seed, different results: %v / %v", a, b)
	}
	if slices.Equal(a.TrainLoss, c.TrainLoss) {
		t.Errorf("seeds 5 and 6 give the same losses %v; the seed is not used", a.TrainLoss)
	}
}

// TestProbeGradientMatchesAutograd checks the closed-form gradient of the
// probe against libtorch's autograd of log_softmax + NLL.
func TestProbeGradientMatchesAutograd(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const b, d, c = 7, 5, 3
	xb := matrix(t, gaussianRows(rng, b, d+1))
	defer xb.MustDrop()
	labels := []int64{0, 2, 1, 1, 0, 2, 2}
	yb, err := tensor.FromInt64(labels, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer yb.MustDrop()
	l, err := newLinear(d, c, 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer l.drop()

	s := tensor.NewScope()
	defer s.Close()
	gw, loss := l.grad(s, xb, yb)

	w := s.T(l.w.MustDetach(false).MustSetRequiresGrad(true, true))
	logp := s.T(s.T(xb.MustMm(w, false)).MustLogSoftmax(1, gotch.Float, false))
	nll := s.T(s.T(s.T(logp.MustGather(1, yb, false, false)).MustMean(gotch.Float, false)).MustNeg(false))
	nll.MustBackward()
	want := s.T(w.MustGrad(false))

	got64, want64 := gw.Float64Values(), want.Float64Values()
	for i := range want64 {
		if math.Abs(got64[i]-want64[i]) > 1e-6 {
			t.Fatalf("dW[%d] = %v, autograd %v", i, got64[i], want64[i])
		}
	}
	if mean := nll.Float64Values()[0]; math.Abs(loss/b-mean) > 1e-6 {
		t.Errorf("loss %v / %d = %v, autograd's forward %v", loss, b, loss/b, mean)
	}
}

// TestAdamMatchesTorch runs the probe's Adam against a float64
// transcription of torch.optim.Adam's update (_single_tensor_adam,
// PyTorch 1.13) on a sequence of gradients.
func TestAdamMatchesTorch(t *testing.T) {
	grads := [][]float64{{0.5, -2, 1e-3}, {-1, -2, 0}, {0.25, 3, -1e-4}, {2, -0.5, 1e-2}}
	p0 := []float64{1, -1, 0.5}
	const lr = 0.1
	// Reference.
	want := slices.Clone(p0)
	m, v := make([]float64, 3), make([]float64, 3)
	for step, g := range grads {
		tt := float64(step + 1)
		for i := range want {
			m[i] = m[i]*adamBeta1 + (1-adamBeta1)*g[i]
			v[i] = v[i]*adamBeta2 + (1-adamBeta2)*g[i]*g[i]
			bc1 := 1 - math.Pow(adamBeta1, tt)
			bc2 := 1 - math.Pow(adamBeta2, tt)
			denom := math.Sqrt(v[i])/math.Sqrt(bc2) + adamEps
			want[i] -= lr / bc1 * m[i] / denom
		}
	}
	p := matrix64(t, p0, 1, 3)
	defer p.MustDrop()
	mt, vt := p.MustZerosLike(false), p.MustZerosLike(false)
	defer mt.MustDrop()
	defer vt.MustDrop()
	for step, g := range grads {
		s := tensor.NewScope()
		adam(s, p, s.T(matrix64(t, g, 1, 3)), mt, vt, step+1, lr)
		s.Close()
	}
	got := p.Float64Values()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("p[%d] = %.15g, torch's Adam gives %.15g", i, got[i], want[i])
		}
	}
}

func TestLinearProbeErrors(t *testing.T) {
	x := matrix(t, handBank)
	defer x.MustDrop()
	cases := []struct {
		name       string
		opts       ProbeOptions
		ytr        []int
		wantSubstr string
	}{
		{"both preprocessings", ProbeOptions{Normalize: true, Standardize: true}, handBankLabels, "pick one"},
		{"negative lr", ProbeOptions{LR: -1}, handBankLabels, "lr > 0"},
		{"labels short", ProbeOptions{}, handBankLabels[:2], "2 train labels for 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LinearProbe(context.Background(), x, c.ytr, x, handBankLabels, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
				t.Errorf("error %v, want one containing %q", err, c.wantSubstr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LinearProbe(ctx, x, handBankLabels, x, handBankLabels, ProbeOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}
