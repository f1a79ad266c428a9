package plot

import (
	"math"
	"slices"
	"testing"
)

func labels(ts []tick) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.label)
	}
	return out
}

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []string
	}{
		{0, 1, 5, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{0, 10000, 4, []string{"0", "2000", "4000", "6000", "8000", "10000"}},
		{-1, 1, 4, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}},
		{0.772, 0.834, 6, []string{"0.78", "0.79", "0.80", "0.81", "0.82", "0.83"}},
		{0, 3e6, 3, []string{"0", "1e+06", "2e+06", "3e+06"}},
	}
	for _, tt := range tests {
		if got := labels(linearTicks(tt.lo, tt.hi, tt.n)); !slices.Equal(got, tt.want) {
			t.Errorf("linearTicks(%v, %v, %d) = %q, want %q", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64 // values, not logs
		want   []string
	}{
		{0.001, 10, []string{"0.001", "0.01", "0.1", "1", "10"}},
		{0.09, 6, []string{"0.1", "0.2", "0.5", "1", "2", "5"}},
		{0.35, 0.6, []string{"0.35", "0.40", "0.45", "0.50", "0.55", "0.60"}},
	}
	for _, tt := range tests {
		got := labels(logTicks(math.Log10(tt.lo), math.Log10(tt.hi)))
		if !slices.Equal(got, tt.want) {
			t.Errorf("logTicks(%v, %v) = %q, want %q", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestEMA(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		ys     []float64
		weight float64
		want   []float64
	}{
		{"off", []float64{1, 2, 3}, 0, []float64{1, 2, 3}},
		{"constant stays", []float64{5, 5, 5}, 0.9, []float64{5, 5, 5}},
		{"half", []float64{0, 2}, 0.5, []float64{0, 2.0 / 1.5 * 1}},
		{"nan passes through", []float64{1, nan, 1}, 0.9, []float64{1, nan, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EMA(tt.ys, tt.weight)
			for i := range got {
				if math.IsNaN(tt.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && math.Abs(got[i]-tt.want[i]) > 1e-12) {
					t.Errorf("EMA = %v, want %v", got, tt.want)
					break
				}
			}
		})
	}
}
