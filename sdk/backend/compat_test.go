package backend

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// These tests drive gotch's Go API, so they cross gotch's generated C++ and
// gotch_compat.h: one case per kind of entry in the header.

// pin keeps the test's goroutine on one OS thread until it ends. gotch reads
// an operator's error from a thread-local slot in a second cgo call; a
// goroutine that moves thread between the two loses the error (CI saw
// TestFractionalCorrectionIsAnError get nil) and leaves it for whatever runs
// next on the first thread. Each subtest runs in its own goroutine, so each
// pins itself.
func pin(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

func f64(t *testing.T, data []float64, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(data, shape)
	if err != nil {
		t.Fatalf("NewTensorFromData: %v", err)
	}
	return x
}

func near(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestStubbedOpsReturnGoErrors: operators libtorch 1.13 lacks fail with a Go
// error that names the operator, instead of failing to build or crashing.
func TestStubbedOpsReturnGoErrors(t *testing.T) {
	pin(t)
	if !strings.HasPrefix(TorchVersion(), "1.13") {
		t.Skipf("stubs only exist for libtorch 1.13, this is %s", TorchVersion())
	}
	x := f64(t, make([]float64, 2*1*4*4*4), 2, 1, 4, 4, 4)
	defer x.MustDrop()
	cases := []struct {
		op  string
		run func() error
	}{
		{"quantized_max_pool3d", func() error {
			_, err := x.QuantizedMaxPool3d([]int64{2, 2, 2}, []int64{2, 2, 2}, []int64{0, 0, 0}, []int64{1, 1, 1}, false, false)
			return err
		}},
		{"max_pool2d_backward", func() error {
			y := f64(t, make([]float64, 16), 1, 1, 4, 4)
			defer y.MustDrop()
			_, err := y.MaxPool2dBackward(y, []int64{2, 2}, []int64{2, 2}, []int64{0, 0}, []int64{1, 1}, false, false)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			pin(t)
			err := c.run()
			if err == nil {
				t.Fatalf("%s: want an error from the stub, got nil", c.op)
			}
			if !strings.Contains(err.Error(), c.op+" is not available in libtorch 1.13") {
				t.Errorf("%s: error does not name the op and version: %v", c.op, err)
			}
		})
	}
}

// TestAdaptedOps: operators whose signature changed between 1.13 and 2.1 give
// the numbers their 2.1 definition gives.
func TestAdaptedOps(t *testing.T) {
	pin(t)
	cases := []struct {
		name      string
		run       func() (*ts.Tensor, error)
		wantShape []int64
		want      []float64
	}{
		{
			name: "squeeze.dims",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{1, 2, 3, 4, 5, 6}, 1, 3, 1, 2)
				defer x.MustDrop()
				return x.SqueezeDims([]int64{0, -2}, false)
			},
			wantShape: []int64{3, 2},
			want:      []float64{1, 2, 3, 4, 5, 6},
		},
		{
			name: "squeeze.dims keeps dims that are not 1",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{1, 2, 3, 4, 5, 6}, 1, 3, 1, 2)
				defer x.MustDrop()
				return x.SqueezeDims([]int64{1, 2}, false)
			},
			wantShape: []int64{1, 3, 2},
			want:      []float64{1, 2, 3, 4, 5, 6},
		},
		{
			name: "squeeze_.dims (Tensor method)",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{7, 8}, 1, 2, 1)
				if err := x.SqueezeDims_([]int64{0, 2}); err != nil {
					return nil, err
				}
				return x, nil
			},
			wantShape: []int64{2},
			want:      []float64{7, 8},
		},
		{
			name: "std.correction, population (correction 0)",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{1, 2, 3, 4, 2, 2, 2, 2}, 2, 4)
				defer x.MustDrop()
				return x.StdCorrection([]int64{1}, ts.IntScalar(0), false, false)
			},
			wantShape: []int64{2},
			want:      []float64{math.Sqrt(1.25), 0},
		},
		{
			name: "std.correction, sample (correction 1)",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{1, 2, 3, 4}, 4)
				defer x.MustDrop()
				return x.StdCorrection([]int64{0}, ts.IntScalar(1), false, false)
			},
			wantShape: []int64{},
			want:      []float64{math.Sqrt(5.0 / 3.0)},
		},
		{
			name: "nonzero_static pads with fill_value",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{0, 1, 0, 2}, 4)
				defer x.MustDrop()
				return x.NonzeroStatic(4, -1, false)
			},
			wantShape: []int64{4, 1},
			want:      []float64{1, 3, -1, -1},
		},
		{
			name: "nonzero_static truncates",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{5, 1, 0, 2}, 4)
				defer x.MustDrop()
				return x.NonzeroStatic(2, -1, false)
			},
			wantShape: []int64{2, 1},
			want:      []float64{0, 1},
		},
		{
			name: "scaled_dot_product_attention",
			run: func() (*ts.Tensor, error) {
				q := f64(t, []float64{1, 0, 0, 1}, 1, 2, 2)
				k := f64(t, []float64{1, 0, 0, 1}, 1, 2, 2)
				v := f64(t, []float64{1, 2, 3, 4}, 1, 2, 2)
				defer q.MustDrop()
				defer k.MustDrop()
				defer v.MustDrop()
				return ts.ScaledDotProductAttention(q, k, v, ts.NewTensor(), 0, false, []float64{1})
			},
			wantShape: []int64{1, 2, 2},
			// row i attends with weights softmax(q_i . k_j): e/(e+1), 1/(e+1).
			want: func() []float64 {
				a := math.E / (math.E + 1)
				b := 1 / (math.E + 1)
				return []float64{a*1 + b*3, a*2 + b*4, b*1 + a*3, b*2 + a*4}
			}(),
		},
		{
			name: "scaled_dot_product_attention, causal",
			run: func() (*ts.Tensor, error) {
				q := f64(t, []float64{1, 0, 0, 1}, 1, 2, 2)
				k := f64(t, []float64{1, 0, 0, 1}, 1, 2, 2)
				v := f64(t, []float64{1, 2, 3, 4}, 1, 2, 2)
				defer q.MustDrop()
				defer k.MustDrop()
				defer v.MustDrop()
				return ts.ScaledDotProductAttention(q, k, v, ts.NewTensor(), 0, true, []float64{1})
			},
			wantShape: []int64{1, 2, 2},
			want: func() []float64 {
				a := math.E / (math.E + 1)
				b := 1 / (math.E + 1)
				return []float64{1, 2, b*1 + a*3, b*2 + a*4}
			}(),
		},
		{
			name: "to_sparse_csr(dense_dim) then to_dense(masked_grad) (Tensor methods)",
			run: func() (*ts.Tensor, error) {
				x := f64(t, []float64{0, 3, 0, 0, 0, 4}, 2, 3)
				defer x.MustDrop()
				s, err := x.ToSparseCsr(nil, false)
				if err != nil {
					return nil, err
				}
				defer s.MustDrop()
				if sp, _ := s.IsSparse(); sp {
					t.Errorf("to_sparse_csr gave a COO tensor")
				}
				return s.ToDense(gotch.Double, false, false)
			},
			wantShape: []int64{2, 3},
			want:      []float64{0, 3, 0, 0, 0, 4},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pin(t)
			got, err := c.run()
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			defer got.MustDrop()
			if shape := got.MustSize(); !slices.Equal(shape, c.wantShape) {
				t.Errorf("shape = %v, want %v", shape, c.wantShape)
			}
			g, err := got.ToDtype(gotch.Double, false, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if vals := g.Float64Values(true); !near(vals, c.want, 1e-12) {
				t.Errorf("values = %v, want %v", vals, c.want)
			}
		})
	}
}

// TestEmptyPermutedLayout: empty_permuted gives the logical shape with the
// memory order of physical_layout.
func TestEmptyPermutedLayout(t *testing.T) {
	pin(t)
	x, err := ts.EmptyPermuted([]int64{2, 3, 4}, []int64{2, 0, 1}, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	if got := x.MustSize(); !slices.Equal(got, []int64{2, 3, 4}) {
		t.Errorf("shape = %v", got)
	}
	if got := x.MustStride(); !slices.Equal(got, []int64{3, 1, 6}) {
		t.Errorf("strides = %v, want [3 1 6]", got)
	}
}

// TestFractionalCorrectionIsAnError: a 2.1 argument 1.13 cannot honour is a Go
// error, not a silently different result.
func TestFractionalCorrectionIsAnError(t *testing.T) {
	pin(t)
	if !strings.HasPrefix(TorchVersion(), "1.13") {
		t.Skipf("only libtorch 1.13 lacks fractional corrections, this is %s", TorchVersion())
	}
	x := f64(t, []float64{1, 2, 3}, 3)
	defer x.MustDrop()
	_, err := x.StdCorrection([]int64{0}, ts.FloatScalar(0.5), false, false)
	if err == nil || !strings.Contains(err.Error(), "fractional correction") {
		t.Errorf("want a fractional-correction error, got %v", err)
	}
}
