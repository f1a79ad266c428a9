package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// randomU8 returns n random c×h×w uint8 images.
func randomU8(t testing.TB, seed uint64, n, c, h, w int) *ts.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	pix := make([]uint8, n*c*h*w)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	x, err := tensor.FromUint8(pix, int64(n), int64(c), int64(h), int64(w))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// f32 returns a float32 tensor of shape from v.
func f32(t testing.TB, v []float32, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// values returns a float tensor's elements as float32.
func values(t testing.TB, x *ts.Tensor) []float32 {
	t.Helper()
	if x.DType() != gotch.Float {
		y := x.MustTotype(gotch.Float, false)
		defer y.MustDrop()
		x = y
	}
	v, err := tensor.Float32s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ints(t testing.TB, x *ts.Tensor) []int64 {
	t.Helper()
	v, err := tensor.Int64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// maxDiff is the largest absolute difference of two equally long slices.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// single returns a pipeline of one view "v" with recipe r.
func single(t testing.TB, r Recipe) *Pipeline {
	t.Helper()
	p, err := New(ViewRecipe{Name: "v", Recipe: r})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
