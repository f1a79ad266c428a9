package instdisc

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// lemniscateStep is a float64 loop transcription of one training step of
// lemniscate.pytorch's main.py, on features f [N][D] through the head
// (W [L][D], b [L]): x = normalize(W f + b); the loss on the bank before the
// step; and the bank rows y = idx[i][0] moved to
// normalize(m·bank[y] + (1−m)·x). With K noise columns in idx it is NCE mode
// (NCEAverage + NCECriterion, Z from this batch when z <= 0); with none
// (--nce-k 0) LinearAverage's softmax over the whole bank. It returns the
// loss, the Z used (0 in softmax mode) and the bank after the step.
func lemniscateStep(f, w [][]float64, b []float64, bank [][]float64, idx [][]int64, t, m, z float64) (float64, float64, [][]float64) {
	x := make([][]float64, len(f))
	for i := range f {
		x[i] = make([]float64, len(w))
		for l := range w {
			x[i][l] = b[l]
			for d := range f[i] {
				x[i][l] += w[l][d] * f[i][d]
			}
		}
		x[i] = unit(x[i])
	}
	var loss float64
	if len(idx[0]) == 1 {
		loss, z = softmaxLoss(x, bank, idx, t), 0
	} else {
		loss, z = nceLoss(x, bank, idx, t, z)
	}
	after := make([][]float64, len(bank))
	for j := range bank {
		after[j] = append([]float64(nil), bank[j]...)
	}
	for i := range x {
		y := idx[i][0]
		mixed := make([]float64, len(x[i]))
		for l := range mixed {
			mixed[l] = m*bank[y][l] + (1-m)*x[i][l]
		}
		after[y] = unit(mixed)
	}
	return loss, z, after
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// nceLoss is NCECriterion on NCEAverage's scores, with Z estimated from
// this batch when z <= 0.
func nceLoss(x, bank [][]float64, idx [][]int64, t, z float64) (float64, float64) {
	n, k1, M := len(x), len(idx[0]), float64(len(bank))
	sc := make([][]float64, n)
	sum := 0.0
	for i := range x {
		sc[i] = make([]float64, k1)
		for k, j := range idx[i] {
			sc[i][k] = math.Exp(dot(bank[j], x[i]) / t)
			sum += sc[i][k]
		}
	}
	if z <= 0 {
		z = M * sum / float64(n*k1)
	}
	c := float64(k1-1) / M
	loss := 0.0
	for i := range sc {
		p0 := sc[i][0] / z
		loss -= math.Log(p0 / (p0 + c + Eps))
		for k := 1; k < k1; k++ {
			loss -= math.Log(c / (sc[i][k]/z + c + Eps))
		}
	}
	return loss / float64(n), z
}

// softmaxLoss is CrossEntropyLoss on LinearAverage's logits bank · x / T.
func softmaxLoss(x, bank [][]float64, idx [][]int64, t float64) float64 {
	loss := 0.0
	for i := range x {
		sum := 0.0
		for j := range bank {
			sum += math.Exp(dot(bank[j], x[i]) / t)
		}
		loss += math.Log(sum) - dot(bank[idx[i][0]], x[i])/t
	}
	return loss / float64(len(x))
}

func unit(v []float64) []float64 {
	s := 0.0
	for _, a := range v {
		s += a * a
	}
	out := make([]float64, len(v))
	for i, a := range v {
		out[i] = a / math.Sqrt(s)
	}
	return out
}

// centralDiff is (f(v+h) − f(v−h)) / 2h at h 1e-5 for the variable v points
// to, which it restores.
func centralDiff(v *float64, f func() float64) float64 {
	const h = 1e-5
	keep := *v
	*v = keep + h
	up := f()
	*v = keep - h
	down := f()
	*v = keep
	return (up - down) / (2 * h)
}

func rows(t *testing.T, x *ts.Tensor) [][]float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	sz := x.MustSize()
	out := make([][]float64, sz[0])
	cols := int64(len(v)) / sz[0]
	for i := range out {
		out[i] = v[int64(i)*cols : int64(i+1)*cols]
	}
	return out
}

// TestStepFollowsLemniscate checks what the loss-only golden vectors cannot
// see: the step around the loss. Over two training steps it compares the
// method's loss, Z, feature gradient (by central differences of the
// transcription) and memory bank with lemniscateStep, run on the head's
// weights before each step and on the same noise draw; and checks that the
// head's Adam step moves every weight against its gradient. Both modes:
// NCE (K noise rows) and the full softmax (K 0).
func TestStepFollowsLemniscate(t *testing.T) {
	for _, k := range []int64{7, 0} {
		t.Run(fmt.Sprintf("K=%d", k), func(t *testing.T) { stepFollowsLemniscate(t, k) })
	}
}

// feature is the key of the one view's pooled features.
var feature = method.FeatureKey("v1", "pooled", false)

func stepFollowsLemniscate(t *testing.T, k int64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n, dim, lowDim, nData = 6, 5, 4, 24
	m := New()
	defer m.Close()
	ctx := context.Background()
	cfg := method.Params{"K": k, "low_dim": int64(lowDim), "T": 0.2, "momentum": 0.5}
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {dim}}, Device: "cpu", Seed: 5, NumSamples: nData, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	st := m.Stepper().(*stepper)                                  // the set-up head, bank and noise
	ids := [][]int64{{3, 17, 0, 9, 22, 11}, {9, 4, 5, 3, 12, 23}} // step 1 revisits 9 and 3
	zUsed := -1.0
	for step, batch := range ids {
		fv := make([]float32, n*dim)
		for i := range fv {
			fv[i] = float32(math.Sin(float64(7*i+13*step+1))) * 2
		}
		f, err := tensor.FromFloat32(fv, n, dim)
		if err != nil {
			t.Fatal(err)
		}
		idt, err := tensor.FromInt64(batch, n)
		if err != nil {
			t.Fatal(err)
		}
		bt := st.head.B.MustUnsqueeze(0, false)
		w, b, bank := rows(t, st.head.W), rows(t, bt)[0], rows(t, st.bank)
		bt.MustDrop()
		noise, err := st.noise(batch, int64(step))
		if err != nil {
			t.Fatal(err)
		}
		idx := rows(t, noise)
		noise.MustDrop()
		idx64 := make([][]int64, len(idx))
		for i := range idx {
			for _, v := range idx[i] {
				idx64[i] = append(idx64[i], int64(v))
			}
		}
		resp, err := m.Step(ctx, method.StepRequest{Step: int64(step), Train: true, Features: method.Tensors{feature: f}, SampleIDs: idt})
		if err != nil {
			t.Fatal(err)
		}
		f64 := rows(t, f)
		wantLoss, wantZ, wantBank := lemniscateStep(f64, w, b, bank, idx64, 0.2, 0.5, zUsed)
		zUsed = wantZ
		if math.Abs(resp.Loss-wantLoss) > 1e-4*math.Abs(wantLoss) {
			t.Errorf("step %d: loss %v, lemniscate's step gives %v", step, resp.Loss, wantLoss)
		}
		if got := resp.Metrics["Z"]; math.Abs(got-wantZ) > 1e-4*wantZ {
			t.Errorf("step %d: Z %v, want %v (estimated on the first step, then fixed; none with K 0)", step, got, wantZ)
		}
		if k > 0 && step == 0 && math.Abs(resp.Metrics["Z_ratio"]-1) > 1e-9 {
			t.Errorf("step 0: Z_ratio %v, want 1 (Z is this batch's estimate)", resp.Metrics["Z_ratio"])
		}
		g := rows(t, resp.Grads[feature])
		lossAt := func() float64 {
			l, _, _ := lemniscateStep(f64, w, b, bank, idx64, 0.2, 0.5, wantZ)
			return l
		}
		for i := range f64 {
			for d := range f64[i] {
				want := centralDiff(&f64[i][d], lossAt)
				if math.Abs(g[i][d]-want) > 1e-3*(1+math.Abs(want)) {
					t.Errorf("step %d: d loss / d f[%d][%d] = %v, central difference %v", step, i, d, g[i][d], want)
				}
			}
		}
		for j, row := range rows(t, st.bank) {
			for l := range row {
				if math.Abs(row[l]-wantBank[j][l]) > 1e-5 {
					t.Fatalf("step %d: bank[%d] = %v, want %v", step, j, row, wantBank[j])
				}
			}
		}
		// Adam's first step moves each weight by about lr against the sign
		// of its gradient.
		if step == 0 {
			after := rows(t, st.head.W)
			for l := range w {
				for d := range w[l] {
					keep := w[l][d]
					grad := centralDiff(&w[l][d], lossAt)
					if math.Abs(grad) < 1e-4 {
						continue
					}
					if moved := after[l][d] - keep; moved*grad >= 0 || math.Abs(math.Abs(moved)-1e-3) > 2e-4 {
						t.Errorf("head W[%d][%d] moved %v with gradient %v: want about -1e-3·sign", l, d, moved, grad)
					}
				}
			}
		}
		resp.Grads.Drop()
		f.MustDrop()
		idt.MustDrop()
	}
}
