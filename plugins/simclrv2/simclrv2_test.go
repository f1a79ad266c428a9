package simclrv2_test

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/simclrv2"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, simclrv2.DistillConstructor(), "")
}

// TestNTXentCases: simclrv2 changes SimCLR's head, not its loss, so its Loss
// must pass simclr's shared cases.
func TestNTXentCases(t *testing.T) {
	all, err := conformance.LoadCases("")
	if err != nil {
		t.Fatal(err)
	}
	cases := conformance.ForMethod(all, "simclr")
	if len(cases) == 0 {
		t.Fatal("no simclr cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			m := simclrv2.New()
			defer m.Close()
			r := conformance.Run(t.Context(), m, c)
			t.Log(r.String())
			if !r.Pass {
				t.Error(r.String())
			}
		})
	}
}

func TestStep(t *testing.T) {
	for _, c := range simclrv2.Constructors() {
		t.Run(c.Name, func(t *testing.T) {
			conformance.TestStep(t, c, conformance.StepOptions{MemorySteps: 150})
		})
	}
}

func TestSpecs(t *testing.T) {
	s := simclrv2.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != nil || len(s.Views) != 2 {
		t.Errorf("simclrv2 spec %+v: want two online views, no target", s)
	}
	d := simclrv2.NewDistill().Spec()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Target == nil || d.Target.MomentumAt(500, 1000) != 1 || len(d.Views) != 1 || !d.Views[0].Online || !d.Views[0].Target {
		t.Errorf("distill spec %+v: want one view through the trunk and a frozen (momentum 1) target", d)
	}
}

func TestHeadConfig(t *testing.T) {
	got := simclrv2.HeadConfig(128, 3, 0, 64).Dims
	want := []int64{128, 128, 128, 64}
	if len(got) != len(want) {
		t.Fatalf("dims %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dims %v, want %v", got, want)
		}
	}
}

func f64(t *testing.T, shape []int64, v ...float64) *ts.Tensor {
	t.Helper()
	x, err := tensor.FromFloat64(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestKDByHand: with teacher/T = (0, ln 3) the teacher's p = (1/4, 3/4).
// A uniform student gives T²·log 2; a student equal to the teacher gives
// T²·H(p), not 0: the loss is a soft-target cross-entropy, not KL.
func TestKDByHand(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const temp = 2.0
	ln3 := math.Log(3)
	h := -(0.25*math.Log(0.25) + 0.75*math.Log(0.75))
	cases := []struct {
		name    string
		student []float64
		want    float64
	}{
		{"uniform student", []float64{5, 5}, temp * temp * math.Log(2)},
		{"student equals teacher", []float64{0, temp * ln3}, temp * temp * h},
	}
	for _, c := range cases {
		in := method.LossInput{
			Inputs:   method.Tensors{"student_logits": f64(t, []int64{1, 2}, c.student...), "teacher_logits": f64(t, []int64{1, 2}, 0, temp*ln3)},
			Params:   method.Params{"temperature": temp},
			Detached: []string{"teacher_logits"},
		}
		out, err := simclrv2.NewDistill().Loss(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(out.Loss-c.want) > 1e-12 {
			t.Errorf("%s: loss %v, want %v", c.name, out.Loss, c.want)
		}
		if _, ok := out.Grads["teacher_logits"]; ok {
			t.Errorf("%s: a gradient for the detached teacher", c.name)
		}
		out.Drop()
		in.Inputs.Drop()
	}
}

// TestTeacherHead: a classifier file becomes the frozen teacher head.
func TestTeacherHead(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := t.Context()
	const d, c = 8, 3
	w := make([]float32, c*d)
	for i := range w {
		w[i] = float32(i) / 10
	}
	wt, err := tensor.FromFloat32(w, c, d)
	if err != nil {
		t.Fatal(err)
	}
	bt, _ := tensor.FromFloat32([]float32{1, 2, 3}, c)
	path := filepath.Join(t.TempDir(), "teacher.safetensors")
	if err := safetensors.WriteFile(path, map[string]*ts.Tensor{"weight": wt, "bias": bt}, nil); err != nil {
		t.Fatal(err)
	}
	wt.MustDrop()
	bt.MustDrop()
	setup := func(cfg method.Params) (*simclrv2.Distill, error) {
		m := simclrv2.NewDistill()
		t.Cleanup(func() { m.Close() })
		_, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {d}}, Config: cfg, Device: "cpu", Seed: 3})
		return m, err
	}
	m, err := setup(method.Params{"teacher_head": path})
	if err != nil {
		t.Fatal(err)
	}
	state, err := m.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := methodkit.DecodeState(state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Drop()
	got, err := st.Tensor("teacher/weight")
	if err != nil {
		t.Fatal(err)
	}
	gv, _ := tensor.Float32s(got)
	for i := range w {
		if gv[i] != w[i] {
			t.Fatalf("teacher weight[%d] = %v, want %v from the file", i, gv[i], w[i])
		}
	}
	if st.Ints["teacher_loaded"] != 1 {
		t.Errorf("teacher_loaded = %d, want 1", st.Ints["teacher_loaded"])
	}
	req, err := conformance.RandomStep(m.Spec(), 4, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Features.Drop()
	resp, err := m.Step(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Grads.Drop()
	if resp.Metrics["teacher_loaded"] != 1 {
		t.Errorf("metrics %v: want teacher_loaded 1", resp.Metrics)
	}
	for _, bad := range []method.Params{
		{"teacher_head": path, "num_classes": int64(5)},
		{"teacher_head": filepath.Join(t.TempDir(), "missing.safetensors")},
	} {
		if _, err := setup(bad); err == nil {
			t.Errorf("Setup with %v succeeded", bad)
		}
	}
}
