package encoder

import (
	"math"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/selfsup/selfsup/sdk/backend"
	snn "github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestCopy(t *testing.T) {
	for _, name := range []string{ConvNetS, ResNet18CIFAR} {
		t.Run(name, func(t *testing.T) {
			backend.ManualSeed(1)
			enc := newEnc(t, name, 1)
			x := wave(t, 8, 1, 28, 28)
			defer x.MustDrop()
			sgdStep(t, enc, x, 0.1) // non-trivial BN statistics and weights
			c, err := enc.Copy()
			if err != nil {
				t.Fatal(err)
			}
			defer c.VarStore().Destroy()
			if c.Name() != enc.Name() || c.Dim() != enc.Dim() {
				t.Fatalf("copy is %s/%d", c.Name(), c.Dim())
			}
			before := pooled(t, enc, x, false)
			if got := pooled(t, c, x, false); !slices.Equal(got, before) {
				t.Fatalf("copy's eval output differs by %g", maxAbsDiff(got, before))
			}
			for range 3 {
				sgdStep(t, enc, x, 0.1)
			}
			after := pooled(t, enc, x, false)
			if maxAbsDiff(after, before) < 1e-4 {
				t.Fatal("training the original did not change its output")
			}
			if got := pooled(t, c, x, false); !slices.Equal(got, before) {
				t.Errorf("training the original changed the copy by %g", maxAbsDiff(got, before))
			}
		})
	}
}

// smallStore is a VarStore with one parameter and one BN buffer of known
// values.
func smallStore(t *testing.T, w, mean []float32) *nn.VarStore {
	t.Helper()
	vs := nn.NewVarStore(gotch.CPU)
	t.Cleanup(vs.Destroy)
	x, _ := tensor.FromFloat32(w, int64(len(w)))
	vs.Root().Sub("conv").MustAdd("weight", x, true)
	x.MustDrop()
	m, _ := tensor.FromFloat32(mean, int64(len(mean)))
	vs.Root().Sub("bn").MustAdd("running_mean", m, false)
	m.MustDrop()
	return vs
}

func values(t *testing.T, vs *nn.VarStore, name string) []float32 {
	t.Helper()
	v := vs.Variables()[name]
	out, err := tensor.Float32s(&v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEMAMath(t *testing.T) {
	cases := []struct {
		m    float64
		want []float32
	}{
		{0.9, []float32{1.2, 2.4, -1}},
		{1, []float32{1, 2, -1}},
		{0, []float32{3, 6, -1}},
		{0.5, []float32{2, 4, -1}},
	}
	for _, c := range cases {
		target := smallStore(t, []float32{1, 2, -1}, []float32{0, 0})
		online := smallStore(t, []float32{3, 6, -1}, []float32{5, 7})
		if err := snn.EMA(target, online, c.m, snn.CopyBuffers); err != nil {
			t.Fatal(err)
		}
		if got := values(t, target, "conv.weight"); maxAbsDiff(got, c.want) > 1e-6 {
			t.Errorf("m=%v: target %v, want %v", c.m, got, c.want)
		}
		if got := values(t, target, "bn.running_mean"); !slices.Equal(got, []float32{5, 7}) {
			t.Errorf("m=%v: buffer %v, want online's [5 7] copied", c.m, got)
		}
		if got := values(t, online, "conv.weight"); !slices.Equal(got, []float32{3, 6, -1}) {
			t.Errorf("m=%v: online changed to %v", c.m, got)
		}
	}
}

func TestEMAUpdateEncoder(t *testing.T) {
	backend.ManualSeed(2)
	online := newEnc(t, ConvNetS, 1)
	target, err := online.Copy()
	if err != nil {
		t.Fatal(err)
	}
	defer target.VarStore().Destroy()
	x := wave(t, 4, 1, 28, 28)
	defer x.MustDrop()
	sgdStep(t, online, x, 0.5)
	t0 := values(t, target.VarStore(), "3.weight")
	o := values(t, online.VarStore(), "3.weight")
	const m = 0.99
	if err := EMAUpdate(target, online, m); err != nil {
		t.Fatal(err)
	}
	got := values(t, target.VarStore(), "3.weight")
	for i := range got {
		want := m*float64(t0[i]) + (1-m)*float64(o[i])
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Fatalf("element %d: %v, want %v", i, got[i], want)
		}
	}
	if a, b := values(t, target.VarStore(), "4.running_var"), values(t, online.VarStore(), "4.running_var"); !slices.Equal(a, b) {
		t.Error("running_var not copied")
	}
	// the target takes part in no autograd graph
	tw := target.VarStore().Variables()["3.weight"]
	if g := tw.MustGrad(false); g.MustDefined() {
		t.Error("target weight has a gradient after EMAUpdate")
	}

	other := newEnc(t, ResNet18CIFAR, 1)
	cases := []struct {
		name   string
		t, o   Encoder
		m      float64
		errSub string
	}{
		{"momentum above 1", target, online, 1.5, "outside [0, 1]"},
		{"NaN momentum", target, online, math.NaN(), "outside [0, 1]"},
		{"other architecture", other, online, 0.9, "Copy()"},
	}
	for _, c := range cases {
		if err := EMAUpdate(c.t, c.o, c.m); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}

func TestIsBuffer(t *testing.T) {
	cases := map[string]bool{
		"1.running_mean": true, "layer1.0.bn1.running_var": true,
		"bn1.num_batches_tracked": true, "1.weight": false, "conv1.weight": false,
		"running_mean": true, "x.running_mean_extra": false,
	}
	for name, want := range cases {
		if got := IsBuffer(name); got != want {
			t.Errorf("IsBuffer(%q) = %v", name, got)
		}
	}
}
