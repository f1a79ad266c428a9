package schedule

import (
	"math"
	"testing"
)

func TestCosine(t *testing.T) {
	cases := []struct {
		name string
		c    Cosine
		step int64
		want float64
	}{
		{"start", Cosine{0.996, 1, 100}, 0, 0.996},
		{"middle", Cosine{0.996, 1, 100}, 50, 0.998},
		{"end", Cosine{0.996, 1, 100}, 100, 1},
		{"past the end", Cosine{0.996, 1, 100}, 150, 1},
		{"before the start", Cosine{0.996, 1, 100}, -5, 0.996},
		{"quarter, rising", Cosine{0.04, 0.4, 100}, 25, 0.4 + 0.5*(0.04-0.4)*(1+math.Cos(math.Pi/4))},
		{"falling", Cosine{1, 0, 100}, 25, 0.5 * (1 + math.Cos(math.Pi/4))},
		{"no total", Cosine{0.9, 1, 0}, 7, 0.9},
	}
	for _, c := range cases {
		if got := c.c.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: At(%d) = %v, want %v", c.name, c.step, got, c.want)
		}
	}
}

func TestWarmupCosine(t *testing.T) {
	s := WarmupCosine{Base: 1, Warmup: 10, Total: 110, Cosine: true, Final: 0.1}
	cases := []struct {
		step int64
		want float64
	}{
		{0, 0.1}, {4, 0.5}, {9, 1}, // warm-up: base·(k+1)/W
		{10, 1}, {60, 0.1 + 0.9*0.5}, {110, 0.1}, {500, 0.1}, // cosine to Final·Base
	}
	for _, c := range cases {
		if got := s.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	flat := WarmupCosine{Base: 0.5, Total: 100}
	if got := flat.At(70); got != 0.5 {
		t.Errorf("no cosine: At(70) = %v, want the base 0.5", got)
	}
	// The cosine part is Cosine itself, shifted past the warm-up.
	for step := int64(10); step <= 110; step += 7 {
		if a, b := s.At(step), (Cosine{Start: 1, End: 0.1, Total: 100}).At(step-10); a != b {
			t.Errorf("step %d: WarmupCosine %v, Cosine %v: want the one implementation", step, a, b)
		}
	}
	if (WarmupCosine{Base: 1, Final: 2}).Validate() == nil {
		t.Error("Final above 1: want an error")
	}
}
