package tensor

import (
	"testing"

	"github.com/sugarme/gotch/ts"
)

func mustF32(t *testing.T, v ...float32) *ts.Tensor {
	t.Helper()
	x, err := FromFloat32(v, int64(len(v)))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func ts2() *ts.Scalar { return ts.FloatScalar(2) }
