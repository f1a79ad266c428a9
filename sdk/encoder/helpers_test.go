package encoder

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// newEnc builds a registered encoder on the CPU or fails the test.
func newEnc(t testing.TB, name string, in int64) Encoder {
	t.Helper()
	e, err := New(name, in, gotch.CPU)
	if err != nil {
		t.Fatalf("New(%q, %d): %v", name, in, err)
	}
	t.Cleanup(e.VarStore().Destroy)
	return e
}

// wave is a deterministic [n, c, h, w] float32 input: sin of the flat index
// times 0.37 (the same formula as testdata scripts use on the PyTorch side).
func wave(t testing.TB, n, c, h, w int64) *ts.Tensor {
	t.Helper()
	v := make([]float32, n*c*h*w)
	for i := range v {
		v[i] = float32(math.Sin(0.37 * float64(i)))
	}
	x, err := tensor.FromFloat32(v, n, c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// pooled runs enc and returns the pooled features as a slice.
func pooled(t testing.TB, enc Encoder, x *ts.Tensor, train bool) []float32 {
	t.Helper()
	out, err := enc.Forward(x, train)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Drop()
	v, err := tensor.Float32s(out[Pooled])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sgdStep trains enc one plain SGD step on the loss mean(pooled²), freeing
// every tensor it makes, and zeroes the gradients it leaves.
func sgdStep(t testing.TB, enc Encoder, x *ts.Tensor, lr float64) {
	t.Helper()
	out, err := enc.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	sq := out[Pooled].MustSquare(false)
	loss := sq.MustMean(gotch.Float, true)
	out.Drop()
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	if err := applySGD(enc, lr); err != nil {
		t.Fatal(err)
	}
}

// applySGD sets p -= lr·grad for every parameter and zeroes the gradients,
// through the leak-free wrappers of ops.go (gotch's own in-place methods
// leak a handle per call).
func applySGD(enc Encoder, lr float64) error {
	for _, p := range enc.VarStore().TrainableVariables() {
		g, err := call("grad", func(out *lib.Ctensor) { lib.AtgGrad(out, ct(p)) })
		if err != nil {
			return err
		}
		if g.MustDefined() {
			d, err := detach(p)
			if err != nil {
				return err
			}
			s := lib.AtsFloat(lr)
			step, err := call("mul", func(out *lib.Ctensor) { lib.AtgMulScalar(out, ct(g), s) })
			lib.AtsFree(s)
			if err != nil {
				return err
			}
			err = inPlace("sub_", func(out *lib.Ctensor) { lib.AtgSub_(out, ct(d), ct(step)) })
			step.MustDrop()
			d.MustDrop()
			if err != nil {
				return err
			}
			if err := inPlace("zero_", func(out *lib.Ctensor) { lib.AtgZero_(out, ct(g)) }); err != nil {
				return err
			}
		}
		g.MustDrop()
	}
	return nil
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
