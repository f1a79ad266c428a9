package eval

import (
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// matrix makes a float32 tensor [rows, len(rows[0])] from rows.
func matrix(t *testing.T, rows [][]float64) *ts.Tensor {
	t.Helper()
	var v []float32
	for _, r := range rows {
		for _, x := range r {
			v = append(v, float32(x))
		}
	}
	x, err := tensor.FromFloat32(v, int64(len(rows)), int64(len(rows[0])))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// matrix64 makes a float64 tensor from row-major values.
func matrix64(t *testing.T, v []float64, rows, cols int64) *ts.Tensor {
	t.Helper()
	x, err := tensor.FromFloat64(v, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// gaussianRows returns n rows of d standard normal values.
func gaussianRows(rng *rand.Rand, n, d int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range out[i] {
			out[i][j] = rng.NormFloat64()
		}
	}
	return out
}
