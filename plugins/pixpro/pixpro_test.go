package pixpro_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/plugins/pixpro"
	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, pixpro.Constructor(), "")
}

// TestPositiveWeights checks the positive mask on hand-made boxes of a
// 2×2 map: identical boxes pair each bin with itself only (distance 0 <
// 0.7, neighbours at 1 bin width ≥ 0.7·diag ≈ 0.99), and a horizontal flip
// of the same box pairs each bin with its mirror.
func TestPositiveWeights(t *testing.T) {
	box := [4]float64{0, 0, 2, 2}
	flip := [4]float64{2, 0, 0, 2}
	w := pixpro.PositiveWeights([][4]float64{box}, [][4]float64{box}, 2, 2, 0.7)
	cnt := float64(float32(4) + float32(1e-6)) // one positive per row; the reference's float32 denominator
	for i := range 4 {
		for j := range 4 {
			want := 0.0
			if i == j {
				want = 1 / cnt
			}
			if math.Abs(w[i*4+j]-want) > 1e-15 {
				t.Errorf("same box: weight[%d][%d] = %v, want %v", i, j, w[i*4+j], want)
			}
		}
	}
	w = pixpro.PositiveWeights([][4]float64{box}, [][4]float64{flip}, 2, 2, 0.7)
	mirror := []int{1, 0, 3, 2}
	for i := range 4 {
		for j := range 4 {
			want := 0.0
			if j == mirror[i] {
				want = 1 / cnt
			}
			if math.Abs(w[i*4+j]-want) > 1e-15 {
				t.Errorf("flipped box: weight[%d][%d] = %v, want %v", i, j, w[i*4+j], want)
			}
		}
	}
	// disjoint boxes have no positives: the sample contributes 0
	w = pixpro.PositiveWeights([][4]float64{box}, [][4]float64{{10, 10, 12, 12}}, 2, 2, 0.7)
	for i, v := range w {
		if v != 0 {
			t.Fatalf("disjoint boxes: weight %d = %v, want 0", i, v)
		}
	}
}

const (
	batch   = 8
	channel = 16
	side    = 5
)

func setup(t *testing.T) method.Method {
	t.Helper()
	m := pixpro.NewForLayer("block5")
	t.Cleanup(func() { m.Close() })
	_, err := m.Setup(t.Context(), method.SetupRequest{
		FeatureDims: map[string][]int64{"map.block5": {channel, side, side}},
		Config:      method.Params{"proj_hidden": int64(32), "proj_out": int64(16)},
		Device:      "cpu", Seed: 1, TotalSteps: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomStep makes feature maps for both views (online and target) and
// crop boxes in a 28×28 image, some flipped.
func randomStep(t *testing.T, seed int64) method.StepRequest {
	t.Helper()
	rng := nn.NewRand(seed)
	req := method.StepRequest{Train: true, Features: method.Tensors{}, Labels: method.Tensors{}}
	t.Cleanup(func() { req.Features.Drop(); req.Labels.Drop() })
	for _, v := range []string{"v1", "v2"} {
		for _, target := range []bool{false, true} {
			x, err := nn.Normal(rng, gotch.CPU, batch, channel, side, side)
			if err != nil {
				t.Fatal(err)
			}
			req.Features[method.FeatureKey(v, "map.block5", target)] = x
		}
		b := make([]float32, 4*batch)
		for i := range batch {
			s := 10 + 18*rng.Float64()
			x0, y0 := rng.Float64()*(28-s), rng.Float64()*(28-s)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = float32(x0), float32(y0), float32(x0+s), float32(y0+s)
			if rng.IntN(2) == 0 {
				b[4*i], b[4*i+2] = b[4*i+2], b[4*i]
			}
		}
		bt, err := tensor.FromFloat32(b, batch, 4)
		if err != nil {
			t.Fatal(err)
		}
		req.Labels[v+"/boxes"] = bt
	}
	return req
}

func step(t *testing.T, m method.Method, req method.StepRequest, i int64) (float64, []float64) {
	t.Helper()
	req.Step = i
	resp, err := m.Step(t.Context(), req)
	if err != nil {
		t.Fatalf("Step %d: %v", i, err)
	}
	defer resp.Grads.Drop()
	if err := conformance.CheckStep(req, resp); err != nil {
		t.Fatalf("Step %d: %v", i, err)
	}
	var all []float64
	for _, k := range resp.Grads.Names() {
		v, _ := tensor.Float32s(resp.Grads[k])
		for _, x := range v {
			all = append(all, float64(x))
		}
	}
	return resp.Loss, all
}

// TestStep is conformance.TestStep's smoke test for a method with a layer
// tap and boxes, which the generic test's random pooled features lack.
func TestStep(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t.Run("loss_falls", func(t *testing.T) {
		m, req := setup(t), randomStep(t, 100)
		first, _ := step(t, m, req, 0)
		last := first
		for i := int64(1); i < 20; i++ {
			last, _ = step(t, m, req, i)
		}
		if !(last < first) {
			t.Errorf("loss went from %v to %v over 20 steps on one batch", first, last)
		}
	})
	t.Run("eval_changes_nothing", func(t *testing.T) {
		m, req := setup(t), randomStep(t, 200)
		step(t, m, req, 0)
		req.Train = false
		a, ga := step(t, m, req, 1)
		b, gb := step(t, m, req, 1)
		if a != b || !equal(ga, gb, 0) {
			t.Errorf("evaluation steps differ: %v then %v", a, b)
		}
	})
	t.Run("save_load_continues", func(t *testing.T) {
		m := setup(t)
		reqs := []method.StepRequest{randomStep(t, 301), randomStep(t, 302), randomStep(t, 303)}
		for i, r := range reqs {
			step(t, m, r, int64(i))
		}
		saved, err := m.Save(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		m2 := setup(t)
		if err := m2.Load(t.Context(), saved); err != nil {
			t.Fatal(err)
		}
		for i, r := range reqs {
			a, ga := step(t, m, r, int64(3+i))
			b, gb := step(t, m2, r, int64(3+i))
			if math.Abs(a-b) > 1e-6*(1+math.Abs(a)) || !equal(ga, gb, 1e-6) {
				t.Fatalf("step %d after Load: loss %v, continuing gives %v", 3+i, b, a)
			}
		}
		if err := m2.Load(t.Context(), saved[:len(saved)/2]); err == nil {
			t.Error("Load of truncated state succeeded")
		}
	})
	t.Run("memory_flat", func(t *testing.T) {
		m, req := setup(t), randomStep(t, 400)
		conformance.MemoryFlat(t, 50, 300, 16<<20, func(i int64) { step(t, m, req, i) })
	})
	t.Run("needs_boxes", func(t *testing.T) {
		m, req := setup(t), randomStep(t, 500)
		req.Labels = method.Tensors{}
		if _, err := m.Step(t.Context(), req); err == nil {
			t.Error("Step without boxes succeeded")
		}
	})
}

func equal(a, b []float64, rtol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && math.Abs(a[i]-b[i]) > rtol*(1e-6+math.Abs(a[i])) {
			return false
		}
	}
	return true
}

// TestWithAugmenterAndTrunk drives the method as a host would once it
// passes boxes: the Spec's views from sdk/augment (with their Boxes),
// convnet-s's block5 maps from the trunk and its copy, one Step.
func TestWithAugmenterAndTrunk(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	m := pixpro.New()
	defer m.Close()
	spec := m.Spec()
	aug, err := augment.FromSpec(spec, augment.SpecOptions{Size: 28, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	trunk, err := encoder.New(encoder.ConvNetS, 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	target, err := trunk.Copy()
	if err != nil {
		t.Fatal(err)
	}
	var dims []int64
	for _, l := range trunk.Layers() {
		if l.Name == pixpro.DefaultLayer {
			s := (28 + l.Stride - 1) / l.Stride
			dims = []int64{l.Channels, s, s}
		}
	}
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"map.block5": dims}, Device: "cpu", Seed: 3, TotalSteps: 10}); err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 4*28*28)
	rng := nn.NewRand(7)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	imgs, _ := tensor.FromUint8(pix, 4, 1, 28, 28)
	defer imgs.MustDrop()
	views, err := aug.Augment(ctx, augment.Request{Images: imgs, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer views.Drop()
	req := method.StepRequest{Train: true, Features: method.Tensors{}, Labels: method.Tensors{}}
	defer req.Features.Drop()
	for _, v := range spec.Views {
		view, _ := views.View(v.Name)
		for _, enc := range []struct {
			e      encoder.Encoder
			target bool
		}{{trunk, false}, {target, true}} {
			var feats method.Tensors
			tensor.NoGrad(func() { feats, err = enc.e.Forward(view.Images, true, pixpro.DefaultLayer) })
			if err != nil {
				t.Fatal(err)
			}
			req.Features[method.FeatureKey(v.Name, "map."+pixpro.DefaultLayer, enc.target)] = feats[pixpro.DefaultLayer]
			delete(feats, pixpro.DefaultLayer)
			feats.Drop()
		}
		req.Labels[v.Name+"/boxes"] = view.Boxes // owned by views
	}
	resp, err := m.Step(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Grads.Drop()
	if err := conformance.CheckStep(req, resp); err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %v on augmented crops", resp.Loss)
}

func TestSpec(t *testing.T) {
	s := pixpro.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Taps) != 1 || s.Taps[0].Kind != method.Layer || s.Taps[0].Layers[0] != "block5" || len(s.PseudoLabels) != 1 || s.PseudoLabels[0] != "boxes" {
		t.Errorf("spec %+v: want a layer tap of block5 and the boxes pseudo-label", s)
	}
}
