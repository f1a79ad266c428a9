package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// AlignUniformOptions are the settings of AlignUniform. The zero value
// means the standard evaluation: alpha=2, t=2, features L2-normalised.
type AlignUniformOptions struct {
	// Alpha is the exponent of the alignment distance; zero means 2.
	Alpha float64 `json:"alpha"`
	// T is the uniformity temperature; zero means 2.
	T float64 `json:"t"`
	// AsGiven skips the L2 normalisation: the features must already be
	// unit vectors (as the conformance cases' are).
	AsGiven bool `json:"as_given,omitempty"`
	// Chunk is the number of rows per block of the pairwise distances;
	// zero means 1000. It does not change the result.
	Chunk int `json:"-"`
}

func (o AlignUniformOptions) withDefaults() AlignUniformOptions {
	if o.Alpha == 0 {
		o.Alpha = 2
	}
	if o.T == 0 {
		o.T = 2
	}
	if o.Chunk <= 0 {
		o.Chunk = 1000
	}
	return o
}

// AlignUniformResult holds the alignment and uniformity of features.
// Lower is better for both.
type AlignUniformResult struct {
	// Align is mean_i ‖x_i − y_i‖₂^alpha over the positive pairs (x_i,
	// y_i); it is only defined when a second view was given (HasAlign).
	Align    float64 `json:"align"`
	HasAlign bool    `json:"has_align"`
	// Uniform is log of the mean of exp(−t‖z_i − z_j‖₂²) over the
	// unordered pairs i<j; with two views, the mean of the two views'
	// values.
	Uniform float64 `json:"uniform"`
	// N is the number of features (per view).
	N int `json:"n"`
}

// AlignUniform returns the alignment and uniformity of Wang & Isola
// (2020), as align_loss and uniform_loss of SsnL/align_uniform define
// them (see conformance/METHODS.md, align_uniform):
//
//	align = mean_i ‖x_i − y_i‖₂^alpha
//	U(z)  = log( 2/(N(N−1)) · Σ_{i<j} exp(−t‖z_i − z_j‖₂²) )
//	uniform = (U(x) + U(y)) / 2, or U(x) when y is nil
//
// x and y [N, D] are the features of two views of the same N images
// (row i of x and row i of y are a positive pair, e.g. two augmentations
// of test image i). With y nil there are no pairs: only uniformity is
// measured, and Align is left unset. Features are L2-normalised first
// unless opts.AsGiven. The sums run in float64 in blocks of rows, so the
// cost is O(N²D) time and O(Chunk·N) memory: use a few thousand rows
// (the test split), not the training bank.
func AlignUniform(ctx context.Context, x, y *ts.Tensor, opts AlignUniformOptions) (AlignUniformResult, error) {
	opts = opts.withDefaults()
	n, d, err := checkFeatures("first view", x)
	if err != nil {
		return AlignUniformResult{}, err
	}
	if n < 2 {
		return AlignUniformResult{}, fmt.Errorf("eval: uniformity needs at least 2 features, got %d", n)
	}
	if !(opts.T > 0) || !(opts.Alpha > 0) {
		return AlignUniformResult{}, fmt.Errorf("eval: alignment/uniformity with alpha %v and t %v; want both > 0 (the standard is 2 and 2)", opts.Alpha, opts.T)
	}
	if y != nil {
		ny, dy, err := checkFeatures("second view", y)
		if err != nil {
			return AlignUniformResult{}, err
		}
		if ny != n || dy != d {
			return AlignUniformResult{}, fmt.Errorf("eval: alignment: the views have shapes [%d %d] and [%d %d]; pass the features of two views of the same images, row by row", n, d, ny, dy)
		}
		if _, err := sameDevice(x, y); err != nil {
			return AlignUniformResult{}, err
		}
	}

	s := tensor.NewScope()
	defer s.Close()
	prep := func(v *ts.Tensor) *ts.Tensor {
		v = s.T(asType(v, gotch.Double))
		if !opts.AsGiven {
			v = s.T(l2Normalize(v))
		}
		return v
	}
	res := AlignUniformResult{N: int(n)}
	xs := prep(x)
	ux, err := uniformity(ctx, xs, opts)
	if err != nil {
		return AlignUniformResult{}, err
	}
	res.Uniform = ux
	if y == nil {
		return res, nil
	}
	ys := prep(y)
	uy, err := uniformity(ctx, ys, opts)
	if err != nil {
		return AlignUniformResult{}, err
	}
	res.Uniform = (ux + uy) / 2
	diff := s.T(xs.MustSub(ys, false))
	dist := s.T(diff.MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, false, false))
	powed := s.T(dist.MustPowTensorScalar(ts.FloatScalar(opts.Alpha), false))
	res.Align = s.T(powed.MustMean(gotch.Double, false)).MustFloat64Value([]int64{})
	res.HasAlign = true
	return res, nil
}

// uniformity returns U(z) for z [N, D] (float64): the log-mean-exp of
// −t‖z_i − z_j‖² over i<j, summed block by block of rows with the
// squared distances from one matrix product, and the blocks' log-sums
// combined stably.
func uniformity(ctx context.Context, z *ts.Tensor, opts AlignUniformOptions) (float64, error) {
	n := z.MustSize()[0]
	s := tensor.NewScope()
	defer s.Close()
	sq := s.T(s.T(z.MustMul(z, false)).MustSumDimIntlist([]int64{1}, false, gotch.Double, false)) // [N]
	total := math.Inf(-1)
	chunk := int64(opts.Chunk)
	for lo := int64(0); lo < n-1; lo += chunk {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("eval: uniformity stopped after %d of %d rows: %w", lo, n, err)
		}
		rows := min(chunk, n-1-lo)
		total = logAddExp(total, uniformityBlock(z, sq, lo, rows, n, opts.T))
	}
	pairs := float64(n) * float64(n-1) / 2
	return total - math.Log(pairs), nil
}

// uniformityBlock returns log Σ exp(−t‖z_i − z_j‖²) over rows i in
// [lo, lo+rows) and columns j > i.
func uniformityBlock(z, sq *ts.Tensor, lo, rows, n int64, t float64) float64 {
	s := tensor.NewScope()
	defer s.Close()
	// Columns lo+1 .. n-1 hold every j > i for the block's rows.
	c0 := lo + 1
	cols := n - c0
	a := s.T(z.MustNarrow(0, lo, rows, false))
	b := s.T(z.MustNarrow(0, c0, cols, false))
	sqa := s.T(s.T(sq.MustNarrow(0, lo, rows, false)).MustView([]int64{rows, 1}, false))
	sqb := s.T(s.T(sq.MustNarrow(0, c0, cols, false)).MustView([]int64{1, cols}, false))
	g := s.T(a.MustMm(s.T(b.MustT(false)), false)) // [rows, cols]
	// ‖a‖² + ‖b‖² − 2ab, clamped at 0 against rounding.
	g.MustMulScalar_(ts.FloatScalar(-2))
	g.MustAdd_(sqa)
	g.MustAdd_(sqb)
	d2 := s.T(g.MustClampMin(ts.FloatScalar(0), false))
	d2.MustMulScalar_(ts.FloatScalar(-t))
	// Keep j > i: row r is i = lo+r, column c is j = c0+c, so j > i
	// iff c >= r.
	ri := s.T(ts.MustArange(ts.IntScalar(rows), gotch.Int64, d2.MustDevice()))
	ci := s.T(ts.MustArange(ts.IntScalar(cols), gotch.Int64, d2.MustDevice()))
	mask := s.T(s.T(ci.MustView([]int64{1, cols}, false)).MustLtTensor(s.T(ri.MustView([]int64{rows, 1}, false)), false))
	d2.MustMaskedFill_(mask, ts.FloatScalar(math.Inf(-1)))
	flat := s.T(d2.MustView([]int64{-1}, false))
	return s.T(flat.MustLogsumexp([]int64{0}, false, false)).MustFloat64Value([]int64{})
}

// logAddExp returns log(e^a + e^b) without overflow.
func logAddExp(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}
