package conformance

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// RandomStep makes a training StepRequest for spec with random float32
// features for every view, seeded: pooled [n, d] ([n, G, G, d] for grid
// views), and for each layer of a patch tap [n·P, d] (P patches per image);
// under the online key for online views and the target key for target
// views. The caller frees req.Features. FeatureDims gives the dims Setup
// must then be told.
func RandomStep(spec method.Spec, n, d, seed int64) (method.StepRequest, error) {
	rng := nn.NewRand(seed)
	req := method.StepRequest{Train: true, Features: method.Tensors{}}
	for _, tap := range spec.EffectiveTaps() {
		if tap.Kind != method.Pooled && tap.Kind != method.Patches {
			req.Features.Drop()
			return req, fmt.Errorf("random step: tap %q of kind %s: only pooled and patch taps are supported", tap.Name, tap.Kind)
		}
		for _, key := range tap.Keys() {
			for _, v := range spec.Views {
				for _, target := range []bool{false, true} {
					if (target && !v.Target) || (!target && !v.Online) {
						continue
					}
					shape := []int64{n, d}
					switch {
					case tap.Kind == method.Patches:
						shape = []int64{n * int64(tap.Patches), d}
					case v.Grid != nil: // [N, G, G, D] for a grid view
						side := int64(v.Grid.Side(v.Size))
						shape = []int64{n, side, side, d}
					}
					x, err := nn.Normal(rng, gotch.CPU, shape...)
					if err != nil {
						req.Features.Drop()
						return req, err
					}
					req.Features[method.FeatureKey(v.Name, key, target)] = x
				}
			}
		}
	}
	return req, nil
}

// FeatureDims are the per-sample dims of every tap key of spec for
// RandomStep's features of size d.
func FeatureDims(spec method.Spec, d int64) map[string][]int64 {
	out := map[string][]int64{}
	for _, tap := range spec.EffectiveTaps() {
		for _, key := range tap.Keys() {
			out[key] = []int64{d}
		}
	}
	return out
}

// CheckStep checks a StepResponse against its request: a finite loss, and a
// finite gradient for every online feature with the feature's shape and
// dtype (target features get none).
func CheckStep(req method.StepRequest, resp method.StepResponse) error {
	if math.IsNaN(resp.Loss) || math.IsInf(resp.Loss, 0) {
		return fmt.Errorf("loss is %v", resp.Loss)
	}
	for key, f := range req.Features {
		if strings.HasSuffix(key, "@target") {
			continue
		}
		g, ok := resp.Grads[key]
		if !ok || g == nil {
			return fmt.Errorf("no gradient for feature %q (have %v)", key, resp.Grads.Names())
		}
		if !slices.Equal(g.MustSize(), f.MustSize()) || g.DType() != f.DType() {
			return fmt.Errorf("gradient for %q is %v %v, feature is %v %v", key, g.DType(), g.MustSize(), f.DType(), f.MustSize())
		}
		v, err := tensor.AsFloat64s(g)
		if err != nil {
			return fmt.Errorf("gradient for %q: %w", key, err)
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("gradient for %q has %v at %d", key, x, i)
			}
		}
	}
	return nil
}

// StepOptions sizes TestStep. Zero fields take the defaults.
type StepOptions struct {
	Batch       int64         // samples per step (default 32)
	Dim         int64         // pooled feature size (default 32)
	Seed        int64         // seed of the method and the features (default 1)
	Steps       int           // steps on one batch over which the loss must fall (default 20)
	MemorySteps int           // steps of the memory check (default 300; negative skips it)
	MaxGrowth   int64         // allowed RSS growth in bytes over MemorySteps (default 16 MiB)
	Config      method.Params // method config overrides
	// Stateless marks a method with no parameters or state of its own
	// (methodkit.Stateless): its loss on a fixed batch cannot fall by
	// itself, so TestStep checks instead that moving the features against
	// the returned gradients lowers the loss, and that it saves no state.
	Stateless bool
}

func (o StepOptions) withDefaults() StepOptions {
	if o.Batch == 0 {
		o.Batch = 32
	}
	if o.Dim == 0 {
		o.Dim = 32
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Steps == 0 {
		o.Steps = 20
	}
	if o.MemorySteps == 0 {
		o.MemorySteps = 300
	}
	if o.MaxGrowth == 0 {
		o.MaxGrowth = 16 << 20
	}
	return o
}

// TestStep checks a method's training step on random pooled features, as
// subtests: the step returns a finite loss and gradients of the features'
// shapes; repeated steps on one batch lower the loss; an evaluation step
// changes nothing; Save, Load into a fresh method and Step gives what
// continuing gives; and the process RSS stays flat over many steps.
func TestStep(t *testing.T, ctor method.Constructor, opt StepOptions) {
	t.Helper()
	opt = opt.withDefaults()
	ctx := t.Context()
	newMethod := func(t *testing.T) method.Method {
		t.Helper()
		m := ctor.New()
		t.Cleanup(func() { m.Close() })
		_, err := m.Setup(ctx, method.SetupRequest{
			FeatureDims: FeatureDims(ctor.New().Spec(), opt.Dim),
			Config:      opt.Config, Device: "cpu", Seed: opt.Seed, TotalSteps: 1000,
		})
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		return m
	}
	newBatch := func(t *testing.T, seed int64) method.StepRequest {
		t.Helper()
		req, err := RandomStep(ctor.New().Spec(), opt.Batch, opt.Dim, seed)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { req.Features.Drop() })
		return req
	}
	step := func(t *testing.T, m method.Method, req method.StepRequest, i int64) (float64, [][]float64) {
		t.Helper()
		req.Step = i
		resp, err := m.Step(ctx, req)
		if err != nil {
			t.Fatalf("Step %d: %v", i, err)
		}
		defer resp.Grads.Drop()
		if err := CheckStep(req, resp); err != nil {
			t.Fatalf("Step %d: %v", i, err)
		}
		var grads [][]float64
		for _, k := range resp.Grads.Names() {
			v, _ := tensor.AsFloat64s(resp.Grads[k])
			grads = append(grads, v)
		}
		return resp.Loss, grads
	}

	t.Run("loss_falls", func(t *testing.T) {
		if opt.Stateless {
			descentLowersLoss(t, newMethod(t), newBatch(t, opt.Seed+100))
			return
		}
		m := newMethod(t)
		req := newBatch(t, opt.Seed+100)
		first, _ := step(t, m, req, 0)
		last := first
		for i := 1; i < opt.Steps; i++ {
			last, _ = step(t, m, req, int64(i))
		}
		if !(last < first) {
			t.Errorf("loss on one batch went from %v to %v over %d steps; want it to fall", first, last, opt.Steps)
		}
	})

	t.Run("eval_changes_nothing", func(t *testing.T) {
		m := newMethod(t)
		req := newBatch(t, opt.Seed+200)
		step(t, m, req, 0)
		req.Train = false
		a, ga := step(t, m, req, 1)
		b, gb := step(t, m, req, 1)
		if a != b || !equalGrads(ga, gb, 0) {
			t.Errorf("two evaluation steps differ (loss %v then %v): Train=false must not update the method", a, b)
		}
	})

	t.Run("save_load_continues", func(t *testing.T) {
		m := newMethod(t)
		reqs := []method.StepRequest{newBatch(t, opt.Seed+301), newBatch(t, opt.Seed+302), newBatch(t, opt.Seed+303)}
		for i, r := range reqs {
			step(t, m, r, int64(i))
		}
		saved, err := m.Save(ctx)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		m2 := newMethod(t)
		if err := m2.Load(ctx, saved); err != nil {
			t.Fatalf("Load: %v", err)
		}
		for i, r := range reqs { // continue on both, compare every step
			n := int64(len(reqs) + i)
			a, ga := step(t, m, r, n)
			b, gb := step(t, m2, r, n)
			if math.Abs(a-b) > 1e-6*(1+math.Abs(a)) || !equalGrads(ga, gb, 1e-6) {
				t.Fatalf("step %d after Load: loss %v, continuing gives %v (or the gradients differ)", n, b, a)
			}
		}
		if opt.Stateless {
			if len(saved) != 0 {
				t.Errorf("a stateless method saved %d bytes", len(saved))
			}
		} else if err := m2.Load(ctx, saved[:len(saved)/2]); err == nil {
			t.Errorf("Load of truncated state succeeded; want an error")
		}
	})

	t.Run("memory_flat", func(t *testing.T) {
		if opt.MemorySteps < 0 {
			t.Skip("memory check disabled")
		}
		m := newMethod(t)
		req := newBatch(t, opt.Seed+400)
		MemoryFlat(t, max(opt.MemorySteps/6, 20), opt.MemorySteps, opt.MaxGrowth, func(i int64) { step(t, m, req, i) })
	})
}

// descentLowersLoss takes one small step of the features against the
// gradients the method returned and checks that the loss falls.
func descentLowersLoss(t *testing.T, m method.Method, req method.StepRequest) {
	t.Helper()
	ctx := t.Context()
	resp, err := m.Step(ctx, req)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	defer resp.Grads.Drop()
	moved := method.Tensors{}
	defer moved.Drop()
	for k, f := range req.Features {
		g, ok := resp.Grads[k]
		if !ok {
			moved[k] = f.MustShallowClone()
			continue
		}
		step := g.MustMulScalar(ts.FloatScalar(1e-3), false)
		moved[k] = f.MustSub(step, false)
		step.MustDrop()
	}
	req.Features = moved
	after, err := m.Step(ctx, req)
	if err != nil {
		t.Fatalf("Step on moved features: %v", err)
	}
	after.Grads.Drop()
	if !(after.Loss < resp.Loss) {
		t.Errorf("loss %v after moving the features against the gradient, %v before; the gradient is not the loss's", after.Loss, resp.Loss)
	}
}

// MemoryFlat runs step warm times, then steps more times in two windows, and
// fails t when resident memory grows by more than maxGrowth per steps in
// both windows. A leak grows RSS in both windows, while the C allocator
// settling (arenas of libtorch's worker threads, more of them when other
// processes load the CPUs) mostly grows it in the first; the smaller
// window's growth, doubled, is the measure.
func MemoryFlat(t *testing.T, warm, steps int, maxGrowth int64, step func(i int64)) {
	t.Helper()
	for i := range warm {
		step(int64(i))
	}
	half := max(steps/2, 1)
	var rss [3]int64
	for w := range rss {
		if w > 0 {
			for i := range half {
				step(int64(warm + (w-1)*half + i))
			}
		}
		r, err := SettledRSS()
		if err != nil {
			t.Skipf("cannot read RSS: %v", err)
		}
		rss[w] = r
	}
	growth := 2 * min(rss[1]-rss[0], rss[2]-rss[1])
	t.Logf("RSS %d -> %d -> %d MiB over two windows of %d steps", rss[0]>>20, rss[1]>>20, rss[2]>>20, half)
	if growth > maxGrowth {
		t.Errorf("RSS grew by %d KiB per %d steps in both windows (limit %d KiB): a step leaks tensors", growth>>10, 2*half, maxGrowth>>10)
	}
}

func equalGrads(a, b [][]float64, rtol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Abs(a[i][j]-b[i][j]) > rtol*(1e-6+math.Abs(a[i][j])) && a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// SettledRSS runs the Go garbage collector (gotch frees tensors the
// program forgot in finalizers, and gives every tensor a 100 kB Go shadow)
// and returns free Go and C memory to the OS (debug.FreeOSMemory,
// backend.TrimMalloc) before reading RSS, so that only memory that is
// really held counts, not what the C allocator keeps of freed tensors.
func SettledRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	backend.TrimMalloc()
	return RSS()
}

// RSS is the resident set size of this process in bytes (Linux,
// /proc/self/statm).
func RSS() (int64, error) { return backend.ResidentBytes() }
