package byol_test

import (
	"math"
	"testing"

	"github.com/selfsup/selfsup/plugins/byol"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

func TestConformance(t *testing.T) {
	for _, c := range byol.Constructors() {
		t.Run(c.Name, func(t *testing.T) { conformance.Test(t, c, "") })
	}
}

func TestStep(t *testing.T) {
	for _, c := range byol.Constructors() {
		t.Run(c.Name, func(t *testing.T) {
			conformance.TestStep(t, c, conformance.StepOptions{MemorySteps: 150})
		})
	}
}

func TestSpecs(t *testing.T) {
	cases := []struct {
		ctor   method.Constructor
		target bool
		recipe [2]string
	}{
		{byol.BYOLConstructor(), true, [2]string{"byol1", "byol2"}},
		{byol.SimSiamConstructor(), false, [2]string{"mocov2", "mocov2"}},
	}
	for _, c := range cases {
		t.Run(c.ctor.Name, func(t *testing.T) {
			s := c.ctor.New().Spec()
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if s.Name != c.ctor.Name || len(s.Views) != 2 {
				t.Fatalf("spec %+v: want two views of %s", s, c.ctor.Name)
			}
			for i, v := range s.Views {
				if !v.Online || v.Target != c.target || v.Recipe != c.recipe[i] {
					t.Errorf("view %+v: want online, target %v, recipe %s", v, c.target, c.recipe[i])
				}
			}
			if (s.Target != nil) != c.target {
				t.Errorf("target %+v: want one: %v", s.Target, c.target)
			}
		})
	}
}

// TestBYOLMomentum checks the paper's schedule τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2
// from the Spec's target.
func TestBYOLMomentum(t *testing.T) {
	tg := byol.NewBYOL().Spec().Target
	for _, c := range []struct {
		k, total int64
		want     float64
	}{
		{0, 1000, 0.99},
		{500, 1000, 0.995},
		{250, 1000, 1 - 0.01*(math.Cos(math.Pi/4)+1)/2},
		{1000, 1000, 1},
	} {
		if got := tg.MomentumAt(c.k, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("momentum at %d/%d = %v, want %v", c.k, c.total, got, c.want)
		}
	}
}

func TestUnknownConfig(t *testing.T) {
	for _, c := range byol.Constructors() {
		m := c.New()
		_, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Config: method.Params{"temprature": 0.1}, Device: "cpu"})
		if err == nil {
			t.Errorf("%s: Setup with an unknown key succeeded", c.Name)
		}
		m.Close()
	}
}
