package optim

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// refStep re-implements PyTorch's update rules on plain float64 slices: the
// specification the tensor optimizers are checked against.
type refStep func(p, g []float64, st map[string][]float64, step int)

func refAdam(lr, b1, b2, eps, wd float64, decoupled bool) refStep {
	return func(p, g []float64, st map[string][]float64, step int) {
		m, v := st["m"], st["v"]
		bc1 := 1 - math.Pow(b1, float64(step))
		bc2 := 1 - math.Pow(b2, float64(step))
		for i := range p {
			gi := g[i]
			if decoupled {
				p[i] *= 1 - lr*wd
			} else {
				gi += wd * p[i]
			}
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			p[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
		}
	}
}

func refSGD(lr, mom, wd float64, nesterov, lars bool, eta float64) refStep {
	return func(p, g []float64, st map[string][]float64, step int) {
		buf := st["m"]
		d := make([]float64, len(p))
		var pn, gn float64
		for i := range p {
			d[i] = g[i] + wd*p[i]
			pn += p[i] * p[i]
			gn += d[i] * d[i]
		}
		if lars && pn > 0 && gn > 0 {
			r := eta * math.Sqrt(pn) / math.Sqrt(gn)
			for i := range d {
				d[i] *= r
			}
		}
		for i := range p {
			if mom != 0 {
				if step == 1 {
					buf[i] = d[i]
				} else {
					buf[i] = mom*buf[i] + d[i]
				}
				if nesterov {
					d[i] += mom * buf[i]
				} else {
					d[i] = buf[i]
				}
			}
			p[i] -= lr * d[i]
		}
	}
}

func TestOptimizersMatchPyTorchRules(t *testing.T) {
	runtime.LockOSThread() // libtorch grad mode is per OS thread; see tensor.Pinned
	cases := []struct {
		name string
		cfg  Config
		ref  refStep
	}{
		{"adam", Config{Name: "adam", LR: 0.01}, refAdam(0.01, 0.9, 0.999, 1e-8, 0, false)},
		{"adam wd", Config{Name: "adam", LR: 0.01, WeightDecay: 0.1}, refAdam(0.01, 0.9, 0.999, 1e-8, 0.1, false)},
		{"adamw", Config{Name: "adamw", LR: 0.01, WeightDecay: 0.1}, refAdam(0.01, 0.9, 0.999, 1e-8, 0.1, true)},
		{"sgd", Config{Name: "sgd", LR: 0.1}, refSGD(0.1, 0, 0, false, false, 0)},
		{"sgd momentum wd", Config{Name: "sgd", LR: 0.1, Momentum: 0.9, WeightDecay: 0.01}, refSGD(0.1, 0.9, 0.01, false, false, 0)},
		{"sgd nesterov", Config{Name: "sgd", LR: 0.1, Momentum: 0.9, Nesterov: true}, refSGD(0.1, 0.9, 0, true, false, 0)},
		{"lars", Config{Name: "lars", LR: 0.3, WeightDecay: 1e-4}, refSGD(0.3, 0.9, 1e-4, false, true, 0.02)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.LockOSThread()
			vs := nn.NewVarStore(gotch.CPU)
			init := []float64{0.5, -1.5, 2.0, 0.25, -0.75, 1.0}
			x0, err := ts.NewTensorFromData(init, []int64{2, 3})
			if err != nil {
				t.Fatal(err)
			}
			w := vs.Root().MustAdd("w", x0, true)
			opt, err := New(c.cfg, Params(vs))
			if err != nil {
				t.Fatal(err)
			}
			defer opt.Close()
			p := append([]float64(nil), init...)
			st := map[string][]float64{"m": make([]float64, 6), "v": make([]float64, 6)}
			coef := []float64{1, -2, 0.5, 3, -1, 0.1}
			for step := 1; step <= 5; step++ {
				// loss = sum(coef * w^2) / 2  =>  grad = coef * w
				g := make([]float64, 6)
				for i := range g {
					g[i] = coef[i] * p[i]
				}
				c2, _ := ts.NewTensorFromData(coef, []int64{2, 3})
				sq := w.MustMul(w, false)
				loss := sq.MustMul(c2, true).MustSum(gotch.Double, true).MustDivScalar(ts.FloatScalar(2), true)
				opt.ZeroGrad()
				loss.MustBackward()
				loss.MustDrop()
				c2.MustDrop()
				if err := opt.Step(); err != nil {
					t.Fatal(err)
				}
				c.ref(p, g, st, step)
				got := w.Float64Values()
				for i := range p {
					if math.Abs(got[i]-p[i]) > 1e-12 {
						t.Fatalf("step %d: w = %v, want %v", step, got, p)
					}
				}
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	mk := func() (*nn.VarStore, *ts.Tensor, Optimizer) {
		vs := nn.NewVarStore(gotch.CPU)
		w := vs.Root().MustAdd("w", ts.MustOfSlice([]float64{1, 2, 3}), true)
		opt, err := New(Config{Name: "adam", LR: 0.1}, Params(vs))
		if err != nil {
			t.Fatal(err)
		}
		return vs, w, opt
	}
	step := func(w *ts.Tensor, opt Optimizer) {
		opt.ZeroGrad()
		l := w.MustMul(w, false).MustSum(gotch.Double, true)
		l.MustBackward()
		l.MustDrop()
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
	}
	_, a, oa := mk()
	defer oa.Close()
	step(a, oa)
	step(a, oa)
	state, n, err := oa.State()
	if err != nil {
		t.Fatal(err)
	}
	_, b, ob := mk()
	defer ob.Close()
	tensor.NoGrad(func() { b.Copy_(a) })
	if err := ob.SetState(state, n); err != nil {
		t.Fatal(err)
	}
	for _, s := range state {
		s.MustDrop()
	}
	step(a, oa)
	step(b, ob)
	av, bv := a.Float64Values(), b.Float64Values()
	for i := range av {
		if av[i] != bv[i] {
			t.Fatalf("resumed optimizer diverged: %v vs %v", av, bv)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Base: 1, Warmup: 10, Total: 110, Cosine: true}
	cases := []struct {
		step int64
		want float64
	}{
		{0, 0.1}, {9, 1}, {10, 1}, {60, 0.5}, {110, 0}, {200, 0},
	}
	for _, c := range cases {
		if got := s.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if got := (Schedule{Base: 0.5, Total: 10}).At(7); got != 0.5 {
		t.Errorf("constant schedule At(7) = %v", got)
	}
}

// TestStepsDoNotLeak: thousands of fused steps (with per-parameter
// gradient clipping) on a 512×512 parameter keep resident memory flat
// (gotch's per-op bindings would leak here).
func TestStepsDoNotLeak(t *testing.T) {
	runtime.LockOSThread()
	vs := nn.NewVarStore(gotch.CPU)
	w := vs.Root().MustAdd("w", ts.MustOnes([]int64{512, 512}, gotch.Float, gotch.CPU), true)
	for _, name := range []string{"adam", "lars"} {
		opt, err := New(Config{Name: name, LR: 1e-3, WeightDecay: 1e-4}, Params(vs))
		if err != nil {
			t.Fatal(err)
		}
		step := func() {
			opt.ZeroGrad()
			l := w.MustSum(gotch.Float, false)
			l.MustBackward()
			l.MustDrop()
			if _, err := ClipPerParam([]*ts.Tensor{w}, 1); err != nil {
				t.Fatal(err)
			}
			if err := opt.Step(); err != nil {
				t.Fatal(err)
			}
		}
		for range 200 {
			step()
		}
		before := rss(t)
		for range 3000 {
			step()
		}
		grown := rss(t) - before
		t.Logf("%s: RSS grew %.2f MiB over 3000 steps", name, float64(grown)/(1<<20))
		if grown > 8<<20 {
			t.Errorf("%s: RSS grew %.1f MiB over 3000 steps", name, float64(grown)/(1<<20))
		}
		opt.Close()
	}
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}
