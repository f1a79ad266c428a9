package envs

import (
	"math"
	"testing"
)

func TestTolerance(t *testing.T) {
	tests := []struct {
		name                       string
		x, lower, upper, margin, v float64
		sigmoid                    Sigmoid
		want                       float64
	}{
		{"inside bounds", 0.3, 0, 0.5, 1, 0.1, Gaussian, 1},
		{"on the lower bound", 0, 0, 0.5, 1, 0.1, Gaussian, 1},
		{"outside, no margin", 0.6, 0, 0.5, 0, 0.1, Gaussian, 0},
		{"gaussian at the margin", 2, 0, 0, 2, 0.1, Gaussian, 0.1},
		{"gaussian at half the margin", 1, 0, 0, 2, 0.1, Gaussian, math.Pow(0.1, 0.25)},
		{"gaussian below the bounds", -1, 0, 1, 1, 0.1, Gaussian, 0.1},
		{"quadratic at half the margin", 0.5, 0, 0, 1, 0, Quadratic, 0.75},
		{"quadratic at the margin", 1, 0, 0, 1, 0, Quadratic, 0},
		{"linear at half the margin", 0.5, 0, 0, 1, 0, Linear, 0.5},
		{"linear value at margin", 1, 0, 0, 1, 0.25, Linear, 0.25},
		{"long tail at the margin", 3, 0, 0, 3, 0.1, LongTail, 0.1},
		{"reciprocal at the margin", 3, 0, 0, 3, 0.2, Reciprocal, 0.2},
		{"hyperbolic at the margin", 1, 0, 0, 1, 0.1, Hyperbolic, 0.1},
		{"cosine at half the margin", 0.5, 0, 0, 1, 0, Cosine, 0.5},
		{"tanh squared at the margin", 1, 0, 0, 1, 0.1, TanhSquared, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Tolerance(tc.x, tc.lower, tc.upper, tc.margin, tc.sigmoid, tc.v)
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("Tolerance(%v, [%v, %v], margin %v) = %v, want %v", tc.x, tc.lower, tc.upper, tc.margin, got, tc.want)
			}
		})
	}
}

func TestTolerancePanicsOnBadArguments(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"lower above upper", func() { Tolerance(0, 1, 0, 0, Gaussian, 0.1) }},
		{"negative margin", func() { Tolerance(2, 0, 1, -1, Gaussian, 0.1) }},
		{"gaussian value 0", func() { Tolerance(2, 0, 1, 1, Gaussian, 0) }},
		{"quadratic value 1", func() { Tolerance(2, 0, 1, 1, Quadratic, 1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}
