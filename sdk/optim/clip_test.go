package optim

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// withGrads makes one float64 parameter per entry of grads and gives each
// non-nil entry that gradient (loss = Σ_i <w_i, grads_i>); nil entries get
// no gradient at all.
func withGrads(t *testing.T, grads [][]float64) []*ts.Tensor {
	t.Helper()
	vs := nn.NewVarStore(gotch.CPU)
	ps := make([]*ts.Tensor, len(grads))
	var loss *ts.Tensor
	for i, g := range grads {
		n := max(len(g), 2)
		ps[i] = vs.Root().MustAdd(fmt.Sprintf("w%d", i), ts.MustOnes([]int64{int64(n)}, gotch.Double, gotch.CPU), true)
		if g == nil {
			continue
		}
		c := ts.MustOfSlice(g)
		term := ps[i].MustMul(c, false).MustSum(gotch.Double, true)
		c.MustDrop()
		if loss == nil {
			loss = term
		} else {
			loss = loss.MustAdd(term, true)
			term.MustDrop()
		}
	}
	if loss != nil {
		loss.MustBackward()
		loss.MustDrop()
	}
	return ps
}

// gradOf returns p's gradient values, nil when it has none.
func gradOf(p *ts.Tensor) []float64 {
	g := p.MustGrad(false)
	defer g.MustDrop()
	if !g.MustDefined() {
		return nil
	}
	return g.Float64Values()
}

// TestClipPerParam checks ClipPerParam against utils.clip_gradients of
// facebookresearch/dino, worked by hand: norm = ‖g‖₂, coef = clip/(norm +
// 1e-6), g *= coef when coef < 1, per parameter; it returns the norms of
// the parameters with a gradient.
func TestClipPerParam(t *testing.T) {
	runtime.LockOSThread()
	scale := func(g []float64, k float64) []float64 {
		out := make([]float64, len(g))
		for i := range g {
			out[i] = g[i] * k
		}
		return out
	}
	g34 := []float64{3, 4} // norm 5
	cases := []struct {
		name  string
		grads [][]float64 // nil: no gradient
		clip  float64
		want  [][]float64
		norms []float64
	}{
		{"norm 5 clipped to 3", [][]float64{g34}, 3, [][]float64{scale(g34, 3/(5+1e-6))}, []float64{5}},
		{"norm 5 under clip 10 kept", [][]float64{g34}, 10, [][]float64{g34}, []float64{5}},
		// coef = 5/(5+1e-6) < 1: PyTorch scales even at the clip norm
		{"norm 5 at clip 5 scaled by the eps", [][]float64{g34}, 5, [][]float64{scale(g34, 5/(5+1e-6))}, []float64{5}},
		{"zero gradient kept", [][]float64{{0, 0}}, 1, [][]float64{{0, 0}}, []float64{0}},
		{"norm 13 clipped to 1", [][]float64{{-5, 0, 12}}, 1, [][]float64{scale([]float64{-5, 0, 12}, 1/(13+1e-6))}, []float64{13}},
		// each parameter on its own: the global norm (≈5.1) would scale both
		{"per parameter, not global", [][]float64{g34, {0.6, 0.8}}, 3,
			[][]float64{scale(g34, 3/(5+1e-6)), {0.6, 0.8}}, []float64{5, 1}},
		{"parameter without gradient skipped", [][]float64{nil, g34, nil}, 2,
			[][]float64{nil, scale(g34, 2/(5+1e-6)), nil}, []float64{5}},
		{"no gradients at all", [][]float64{nil}, 2, [][]float64{nil}, []float64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.LockOSThread()
			ps := withGrads(t, c.grads)
			norms, err := ClipPerParam(ps, c.clip)
			if err != nil {
				t.Fatal(err)
			}
			if len(norms) != len(c.norms) {
				t.Fatalf("norms %v, want %v", norms, c.norms)
			}
			for i := range norms {
				if math.Abs(norms[i]-c.norms[i]) > 1e-12 {
					t.Errorf("norm %d = %v, want %v", i, norms[i], c.norms[i])
				}
			}
			for i, p := range ps {
				got := gradOf(p)
				if (got == nil) != (c.want[i] == nil) || len(got) != len(c.want[i]) {
					t.Fatalf("parameter %d: gradient %v, want %v", i, got, c.want[i])
				}
				for j := range got {
					if math.Abs(got[j]-c.want[i][j]) > 1e-14 {
						t.Errorf("parameter %d: gradient %v, want %v", i, got, c.want[i])
						break
					}
				}
			}
		})
	}
	if _, err := ClipPerParam(nil, 0); err == nil {
		t.Error("clip 0 accepted; want an error (0 means off: do not call)")
	}
}

// TestClipPerParamFloat32: in float32 the arithmetic is PyTorch's in
// float32, so the clipped gradient is within float32 rounding of the exact.
func TestClipPerParamFloat32(t *testing.T) {
	runtime.LockOSThread()
	vs := nn.NewVarStore(gotch.CPU)
	w := vs.Root().MustAdd("w", ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU), true)
	c := ts.MustOfSlice([]float32{3, 4})
	defer c.MustDrop()
	loss := w.MustMul(c, false).MustSum(gotch.Float, true)
	loss.MustBackward()
	loss.MustDrop()
	norms, err := ClipPerParam([]*ts.Tensor{w}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(norms) != 1 || norms[0] != 5 {
		t.Fatalf("norms %v, want [5]", norms)
	}
	got := gradOf(w)
	for i, g := range []float64{3, 4} {
		if want := g * 3 / (5 + 1e-6); math.Abs(got[i]-want) > 1e-6*want {
			t.Errorf("gradient %v, want %v·3/(5+1e-6)", got, []float64{3, 4})
		}
	}
	if MaxNorm([]float64{1, 5, 2}) != 5 || MaxNorm(nil) != 0 || !math.IsNaN(MaxNorm([]float64{1, math.NaN()})) {
		t.Error("MaxNorm")
	}
}

// TestCosineSchedule: utils.cosine_scheduler(0.04, 0.4, epochs, niter) with
// 100 steps in all, worked by hand.
func TestCosineSchedule(t *testing.T) {
	s := CosineSchedule{Start: 0.04, End: 0.4, Total: 100}
	cases := []struct {
		step int64
		want float64
	}{
		{0, 0.04},
		{25, 0.4 - 0.18*(1+math.Sqrt2/2)},
		{50, 0.22},
		{75, 0.4 - 0.18*(1-math.Sqrt2/2)},
		{99, 0.4 - 0.18*(1+math.Cos(math.Pi*0.99))}, // the last step, just short of End
		{100, 0.4},
		{500, 0.4},
	}
	for _, c := range cases {
		if got := s.At(c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("At(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if got := (CosineSchedule{Start: 0.04, End: 0.4}).At(7); got != 0.04 {
		t.Errorf("schedule of no length At(7) = %v, want the start", got)
	}
}

// TestSetWeightDecay: changing the weight decay between steps follows
// PyTorch's rules with the new decay (as main_dino.py sets
// param_group["weight_decay"] every iteration), and NoDecay parameters
// stay undecayed.
func TestSetWeightDecay(t *testing.T) {
	runtime.LockOSThread()
	cases := []struct {
		name string
		cfg  Config
		ref  func(wd float64) refStep
	}{
		{"adamw", Config{Name: "adamw", LR: 0.01, WeightDecay: 0.04}, func(wd float64) refStep { return refAdam(0.01, 0.9, 0.999, 1e-8, wd, true) }},
		{"adam", Config{Name: "adam", LR: 0.01, WeightDecay: 0.04}, func(wd float64) refStep { return refAdam(0.01, 0.9, 0.999, 1e-8, wd, false) }},
		{"sgd", Config{Name: "sgd", LR: 0.1, Momentum: 0.9, WeightDecay: 0.04}, func(wd float64) refStep { return refSGD(0.1, 0.9, wd, false, false, 0) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.LockOSThread()
			vs := nn.NewVarStore(gotch.CPU)
			init := []float64{0.5, -1.5, 2.0, 0.25, -0.75, 1.0}
			x0 := ts.MustOfSlice(init).MustView([]int64{2, 3}, true)
			w := vs.Root().MustAdd("w", x0, true)
			b := vs.Root().MustAdd("b", ts.MustOnes([]int64{3}, gotch.Double, gotch.CPU), true) // NoDecay, zero gradient
			opt, err := New(c.cfg, Params(vs))
			if err != nil {
				t.Fatal(err)
			}
			defer opt.Close()
			p := append([]float64(nil), init...)
			st := map[string][]float64{"m": make([]float64, 6), "v": make([]float64, 6)}
			coef := []float64{1, -2, 0.5, 3, -1, 0.1}
			for step := 1; step <= 4; step++ {
				wd := 0.04 * float64(step) // a new decay every step
				opt.SetWeightDecay(wd)
				if opt.WeightDecay() != wd {
					t.Fatalf("WeightDecay() = %v after SetWeightDecay(%v)", opt.WeightDecay(), wd)
				}
				g := make([]float64, 6)
				for i := range g {
					g[i] = coef[i] * p[i]
				}
				c2 := ts.MustOfSlice(coef).MustView([]int64{2, 3}, true)
				loss := w.MustMul(w, false).MustMul(c2, true).MustSum(gotch.Double, true).MustDivScalar(ts.FloatScalar(2), true)
				bz := b.MustMulScalar(ts.FloatScalar(0), false).MustSum(gotch.Double, true) // b gets a zero gradient
				loss = loss.MustAdd(bz, true)
				bz.MustDrop()
				opt.ZeroGrad()
				loss.MustBackward()
				loss.MustDrop()
				c2.MustDrop()
				if err := opt.Step(); err != nil {
					t.Fatal(err)
				}
				c.ref(wd)(p, g, st, step)
				got := w.Float64Values()
				for i := range p {
					if math.Abs(got[i]-p[i]) > 1e-12 {
						t.Fatalf("step %d: w = %v, want %v", step, got, p)
					}
				}
				for _, v := range b.Float64Values() {
					if v != 1 {
						t.Fatalf("step %d: NoDecay bias decayed to %v", step, b.Float64Values())
					}
				}
			}
		})
	}
}
