package plot

import "math"

// EMA returns ys smoothed by an exponential moving average with the
// given weight in [0, 1) (0 leaves ys as they are; 0.9 is strong), bias
// corrected as in TensorBoard so the start is not pulled towards zero.
// NaN and ±Inf entries stay as they are and do not enter the average.
func EMA(ys []float64, weight float64) []float64 {
	out := make([]float64, len(ys))
	var acc, norm float64
	for i, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			out[i] = y
			continue
		}
		acc = weight*acc + (1-weight)*y
		norm = weight*norm + (1 - weight)
		out[i] = acc / norm
	}
	return out
}
