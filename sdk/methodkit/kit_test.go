package methodkit_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// toyConfig configures toy, a method that uses every part of the kit.
type toyConfig struct {
	Scale float64 `param:"scale" default:"1" doc:"multiplies the loss; NaN makes a NaN loss"`
	LR    float64 `param:"lr" default:"0.1"`
}

// toy is a kit method on views v1 (online) and v2 (online and target),
// each with a pooled tap and a two-layer patch tap (a CUT-like user): its
// loss pulls a linear head of v1 towards v2's target features, plus the
// patches' mean square. It counts updates in its own saved state.
type toy struct {
	c       *toyConfig
	head    *nn.Linear
	rows    int64    // the batch the head saw last
	calls   []string // Updater / AfterUpdater order
	counter int64    // state beyond the heads
	clash   bool     // SaveState writes a name the kit uses
}

var toyTaps = []method.Tap{{Name: "pooled", Kind: method.Pooled}, {Name: "patches", Kind: method.Patches, Layers: []string{"l1", "l2"}, Patches: 4}}

func toyDef(minBatch int64) methodkit.Def[toyConfig] {
	return methodkit.Def[toyConfig]{
		Name: "toy", Summary: "a test method", MinBatch: minBatch,
		Spec: func(*toyConfig) method.Spec {
			return method.Spec{Views: []method.View{
				{Name: "v1", Recipe: "simclr", Online: true},
				{Name: "v2", Recipe: "simclr", Online: true, Target: true},
			}, Target: &method.Target{Momentum: 0.9}, Taps: toyTaps}
		},
		Build: func(h *methodkit.Heads, c *toyConfig) (methodkit.Stepper, error) {
			head, err := nn.NewLinear(h.Sub("head"), h.Rng, h.Dim, h.Dim, true)
			if err != nil {
				return nil, err
			}
			return &toy{c: c, head: head}, h.Optimize(optimSGD(c.LR), true)
		},
	}
}

func (m *toy) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z := s.Together(headFn(func(x *ts.Tensor, _ bool) *ts.Tensor { m.rows = x.MustSize()[0]; return m.head.Forward(x) }), "v1", "v2")
	d := s.T(z[0].MustSub(s.Target("v2"), false))
	loss := s.T(s.T(d.MustSquare(false)).MustMean(gotch.Float, false))
	patches, err := s.Patches("v1", "patches")
	if err != nil {
		return nil, err
	}
	for i, p := range patches { // [N, P, C] per layer
		if want := []int64{s.N, 4, toyDims["patches.l"+strconv.Itoa(i+1)][0]}; !slices.Equal(p.MustSize(), want) {
			return nil, fmt.Errorf("patches of layer %d: %v, want %v", i+1, p.MustSize(), want)
		}
		loss = s.T(loss.MustAdd(s.T(s.T(p.MustSquare(false)).MustMean(gotch.Float, false)), false))
	}
	s.Metric("rows", float64(s.N))
	return loss.MustMulScalar(ts.FloatScalar(m.c.Scale), false), nil // not under s: the kit frees it
}

func (m *toy) Update(s *methodkit.Step) error {
	m.calls = append(m.calls, "update")
	return s.Heads.Update()
}

func (m *toy) AfterUpdate(*methodkit.Step) error {
	m.calls = append(m.calls, "after")
	m.counter++
	return nil
}

func (m *toy) SaveState(st *methodkit.State) {
	st.Ints["counter"] = m.counter
	if m.clash {
		st.Ints["steps"] = 0
	}
}

func (m *toy) LoadState(st *methodkit.State) (err error) {
	m.counter, err = st.Int("counter")
	return err
}

type headFn func(x *ts.Tensor, train bool) *ts.Tensor

func (f headFn) Forward(x *ts.Tensor, train bool) *ts.Tensor { return f(x, train) }

var toyDims = map[string][]int64{"pooled": {3}, "patches.l1": {2}, "patches.l2": {5}}

// toyRequest makes features for toy: n images; patch taps give n·4 rows.
func toyRequest(t *testing.T, n int64, seed int64) method.StepRequest {
	t.Helper()
	rng := nn.NewRand(seed)
	req := method.StepRequest{Train: true, Features: method.Tensors{}}
	add := func(key string, shape ...int64) {
		x, err := nn.Normal(rng, gotch.CPU, shape...)
		if err != nil {
			t.Fatal(err)
		}
		req.Features[key] = x
	}
	for _, v := range []string{"v1", "v2"} {
		add(v+"/pooled", n, 3)
		add(v+"/patches.l1", n*4, 2)
		add(v+"/patches.l2", n*4, 5)
	}
	add("v2/pooled@target", n, 3)
	add("v2/patches.l1@target", n*4, 2)
	add("v2/patches.l2@target", n*4, 5)
	t.Cleanup(func() { req.Features.Drop() })
	return req
}

func setUpToy(t *testing.T, def methodkit.Def[toyConfig], config method.Params) *methodkit.Method[toyConfig] {
	t.Helper()
	m := methodkit.New(def)
	t.Cleanup(func() { m.Close() })
	resp, err := m.Setup(context.Background(), method.SetupRequest{FeatureDims: toyDims, Config: config, Device: "cpu", Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Parameters != 3*3+3 {
		t.Errorf("Setup reports %d parameters, want the head's 12", resp.Parameters)
	}
	return m
}

func TestKitStep(t *testing.T) {
	ctx := context.Background()
	m := setUpToy(t, toyDef(2), nil)
	st := m.Stepper().(*toy)
	req := toyRequest(t, 6, 1)
	before := toyParams(t, m)
	resp, err := m.Step(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Grads.Drop()
	// every online feature gets a gradient of its shape and dtype; target
	// features none
	want := []string{"v1/patches.l1", "v1/patches.l2", "v1/pooled", "v2/patches.l1", "v2/patches.l2", "v2/pooled"}
	if got := resp.Grads.Names(); !slices.Equal(got, want) {
		t.Fatalf("gradients for %v, want %v", got, want)
	}
	for k, g := range resp.Grads {
		if !slices.Equal(g.MustSize(), req.Features[k].MustSize()) || g.DType() != req.Features[k].DType() {
			t.Errorf("grad %s: %v %v, want the feature's shape and dtype", k, g.DType(), g.MustSize())
		}
	}
	// v2's pooled feature goes through the head but not into the loss, and
	// v2's patches are unused: zero gradients; v1's patch gradient is 2x/numel
	for k, zero := range map[string]bool{"v2/pooled": true, "v2/patches.l1": true, "v1/patches.l1": false} {
		v, _ := tensor.AsFloat64s(resp.Grads[k])
		x, _ := tensor.AsFloat64s(req.Features[k])
		for i := range v {
			w := 0.0
			if !zero {
				w = 2 * x[i] / float64(len(x))
			}
			if math.Abs(v[i]-w) > 1e-6 {
				t.Fatalf("grad %s[%d] = %v, want %v", k, i, v[i], w)
			}
		}
	}
	if st.rows != 12 || resp.Metrics["rows"] != 6 {
		t.Errorf("head saw %d rows (want both views as one batch of 12); N = %v", st.rows, resp.Metrics["rows"])
	}
	if !slices.Equal(st.calls, []string{"update", "after"}) || slices.Equal(before, toyParams(t, m)) {
		t.Errorf("training step: hooks %v, head changed %v; want the Updater then AfterUpdater and a new head", st.calls, !slices.Equal(before, toyParams(t, m)))
	}

	// an evaluation step updates nothing
	req.Train = false
	after := toyParams(t, m)
	resp2, err := m.Step(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Grads.Drop()
	if len(st.calls) != 2 || !slices.Equal(after, toyParams(t, m)) {
		t.Errorf("evaluation step: hooks %v; want no update", st.calls)
	}
}

func TestKitStepErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, want string
		config     method.Params
		edit       func(t *testing.T, req method.StepRequest)
	}{
		{"missing feature", `missing tensor "v2/pooled@target"`, nil, func(t *testing.T, r method.StepRequest) {
			r.Features["v2/pooled@target"].MustDrop()
			delete(r.Features, "v2/pooled@target")
		}},
		{"wrong dim", "feature v1/pooled: shape [6 4], want [N 3]", nil, func(t *testing.T, r method.StepRequest) {
			r.Features["v1/pooled"].MustDrop()
			r.Features["v1/pooled"] = ts.MustZeros([]int64{6, 4}, gotch.Float, gotch.CPU)
		}},
		{"other batch", "has a batch of 5, the other views 6", nil, func(t *testing.T, r method.StepRequest) {
			r.Features["v2/pooled"].MustDrop()
			r.Features["v2/pooled"] = ts.MustZeros([]int64{5, 3}, gotch.Float, gotch.CPU)
		}},
		{"patch rows", "not a whole number of images of 4 patches", nil, func(t *testing.T, r method.StepRequest) {
			r.Features["v1/patches.l2"].MustDrop()
			r.Features["v1/patches.l2"] = ts.MustZeros([]int64{6, 5}, gotch.Float, gotch.CPU)
		}},
		{"int feature", "dtype Int64, want float32 or float64", nil, func(t *testing.T, r method.StepRequest) {
			r.Features["v1/pooled"].MustDrop()
			r.Features["v1/pooled"] = ts.MustZeros([]int64{6, 3}, gotch.Int64, gotch.CPU)
		}},
		{"NaN loss", "toy step 0: loss is NaN; lower the learning rate or check the features", method.Params{"scale": math.NaN()}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := setUpToy(t, toyDef(2), c.config)
			req := toyRequest(t, 6, 2)
			if c.edit != nil {
				c.edit(t, req)
			}
			_, err := m.Step(ctx, req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	t.Run("min batch", func(t *testing.T) {
		m := setUpToy(t, toyDef(8), nil)
		if _, err := m.Step(ctx, toyRequest(t, 6, 3)); err == nil || !strings.Contains(err.Error(), "needs at least 8") {
			t.Fatalf("error %v, want the minimum batch", err)
		}
	})
	t.Run("not set up", func(t *testing.T) {
		m := methodkit.New(toyDef(2))
		if _, err := m.Step(ctx, toyRequest(t, 6, 3)); err == nil || !strings.Contains(err.Error(), "call Setup first") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("setup without a tap's dims", func(t *testing.T) {
		m := methodkit.New(toyDef(2))
		_, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {3}}, Device: "cpu"})
		if err == nil || !strings.Contains(err.Error(), `lack "patches.l1"`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("unknown config key", func(t *testing.T) {
		m := methodkit.New(toyDef(2))
		_, err := m.Setup(ctx, method.SetupRequest{FeatureDims: toyDims, Device: "cpu", Config: method.Params{"sclae": 2.0}})
		if err == nil || !strings.Contains(err.Error(), "known: lr, scale") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestKitSaveLoad: a fresh method loaded from Save continues exactly, with
// the head, its optimizer and the method's own state.
func TestKitSaveLoad(t *testing.T) {
	ctx := context.Background()
	a := setUpToy(t, toyDef(2), method.Params{"lr": 0.05})
	for i := range int64(3) {
		r, err := a.Step(ctx, toyRequest(t, 6, 10+i))
		if err != nil {
			t.Fatal(err)
		}
		r.Grads.Drop()
	}
	saved, err := a.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := setUpToy(t, toyDef(2), method.Params{"lr": 0.05})
	if err := b.Load(ctx, saved); err != nil {
		t.Fatal(err)
	}
	if got := b.Stepper().(*toy).counter; got != 3 {
		t.Errorf("loaded counter %d, want 3", got)
	}
	req := toyRequest(t, 6, 20)
	ra, err1 := a.Step(ctx, req)
	rb, err2 := b.Step(ctx, req)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	defer ra.Grads.Drop()
	defer rb.Grads.Drop()
	if ra.Loss != rb.Loss || !slices.Equal(toyParams(t, a), toyParams(t, b)) {
		t.Errorf("after Load: loss %v vs %v; the loaded method must continue exactly", rb.Loss, ra.Loss)
	}
	if err := methodkit.New(toyDef(2)).Load(ctx, saved); err == nil {
		t.Error("Load before Setup: want an error")
	}
}

func toyParams(t *testing.T, m *methodkit.Method[toyConfig]) []float64 {
	t.Helper()
	var out []float64
	for _, name := range []string{"head.weight", "head.bias"} {
		v, ok := m.Heads().VS.Variables()[name]
		if !ok {
			t.Fatalf("no variable %s in %v", name, m.Heads().VS.Variables())
		}
		x, _ := tensor.AsFloat64s(&v)
		out = append(out, x...)
	}
	return out
}

func optimSGD(lr float64) optim.Config { return optim.Config{Name: "sgd", LR: lr} }

// TestKitGuards: a failed Load changes nothing, a Stater cannot overwrite
// the kit's state, a failed Setup keeps the previous one, and a Def
// without Build has no step.
func TestKitGuards(t *testing.T) {
	ctx := context.Background()
	a := setUpToy(t, toyDef(2), nil)
	r, err := a.Step(ctx, toyRequest(t, 6, 30))
	if err != nil {
		t.Fatal(err)
	}
	r.Grads.Drop()
	saved, err := a.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := methodkit.DecodeState(saved)
	if err != nil {
		t.Fatal(err)
	}
	st.Tensors["head/head.bias"].MustDrop()
	delete(st.Tensors, "head/head.bias")
	broken, err := st.Encode()
	st.Drop()
	if err != nil {
		t.Fatal(err)
	}
	b := setUpToy(t, toyDef(2), nil)
	before := toyParams(t, b)
	if err := b.Load(ctx, broken); err == nil || !strings.Contains(err.Error(), `"head/head.bias"`) {
		t.Errorf("Load of a state without the bias: %v, want an error naming it", err)
	}
	if !slices.Equal(before, toyParams(t, b)) {
		t.Error("a failed Load changed the head")
	}

	a.Stepper().(*toy).clash = true
	if _, err := a.Save(ctx); err == nil || !strings.Contains(err.Error(), `integer "steps"`) {
		t.Errorf("Save with a state name the kit uses: %v, want an error", err)
	}

	if _, err := b.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {3}}, Device: "cpu"}); err == nil {
		t.Fatal("Setup without the patch taps' dims: want an error")
	}
	r, err = b.Step(ctx, toyRequest(t, 6, 31))
	if err != nil {
		t.Errorf("Step after a failed Setup: %v; the previous Setup must stand", err)
	} else {
		r.Grads.Drop()
	}

	lossOnly := methodkit.New(methodkit.Def[toyConfig]{Name: "lossonly"})
	if _, err := lossOnly.Setup(ctx, method.SetupRequest{Device: "cpu"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lossOnly.Step(ctx, toyRequest(t, 6, 32)); err == nil || !strings.Contains(err.Error(), "NewStateless") {
		t.Errorf("Step of a Def without Build: %v, want an error pointing at NewStateless", err)
	}
}
