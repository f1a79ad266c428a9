package barlowtwins_test

import (
	"math"
	"runtime"
	"testing"

	"github.com/selfsup/selfsup/plugins/barlowtwins"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, barlowtwins.Constructor(), "")
}

// TestStep runs with a 64-wide projector: at the default 512 the RSS check
// sees glibc's arena growth for the larger buffers (it levels off: +8 MiB
// over 900 steps, no more than over 300), not leaks.
func TestStep(t *testing.T) {
	small := method.Params{"proj_hidden": int64(64), "proj_out": int64(64)}
	conformance.TestStep(t, barlowtwins.Constructor(), conformance.StepOptions{Config: small})
}

func TestSpec(t *testing.T) {
	s := barlowtwins.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != nil || len(s.Views) != 2 || s.Views[0].Recipe != "byol1" || s.Views[1].Recipe != "byol2" {
		t.Errorf("spec %+v: want views byol1, byol2 through the trunk and no target", s)
	}
}

// TestLossByHand: two samples of two dimensions, bn_eps 0. The columns
// (1, 3) and (0, 4) both normalise to (−1, 1), so for z1 = z2 every entry
// of c = ẑ1ᵀẑ2 / 2 is 1: the on-diagonal terms vanish and the two
// off-diagonal ones give 2·lambd. When z2's second column is (4, 0) it
// normalises to (1, −1): c = [[1, −1], [1, −1]], so loss = (−1 − 1)² +
// lambd·(1 + 1).
func TestLossByHand(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	z := func(v ...float64) method.Tensors {
		x, err := tensor.FromFloat64(v, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		return method.Tensors{"x": x}
	}
	cases := []struct {
		name   string
		z1, z2 []float64
		lambd  float64
		want   float64
	}{
		{"equal views", []float64{1, 0, 3, 4}, []float64{1, 0, 3, 4}, 0.5, 2 * 0.5},
		{"one column flipped", []float64{1, 0, 3, 4}, []float64{1, 4, 3, 0}, 0.5, 4 + 0.5*2},
	}
	for _, c := range cases {
		a, b := z(c.z1...), z(c.z2...)
		in := method.LossInput{Inputs: method.Tensors{"z1": a["x"], "z2": b["x"]}, Params: method.Params{"lambd": c.lambd, "batch_size": int64(2), "bn_eps": 0.0}}
		out, err := barlowtwins.New().Loss(t.Context(), in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if math.Abs(out.Loss-c.want) > 1e-12 {
			t.Errorf("%s: loss %v, want %v", c.name, out.Loss, c.want)
		}
		out.Drop()
		in.Inputs.Drop()
	}
}
