package methodkit

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// SamePairs checks that a and b are [N, D] float tensors of one shape and
// dtype with N ≥ minRows (2 where the loss needs a batch statistic or
// in-batch negatives, 1 where single rows make sense).
func SamePairs(a, b *ts.Tensor, minRows int64) error {
	sa, sb := a.MustSize(), b.MustSize()
	if len(sa) != 2 || !slices.Equal(sa, sb) {
		return fmt.Errorf("shapes %v and %v: want two [N, D] of one shape", sa, sb)
	}
	if sa[0] < minRows {
		return fmt.Errorf("batch of %d: want at least %d samples", sa[0], minRows)
	}
	if a.DType() != b.DType() || !isFloat(a.DType()) {
		return fmt.Errorf("dtypes %v and %v: want one float dtype", a.DType(), b.DType())
	}
	return nil
}

// ToHead moves a (leaf) feature to the heads' device as float32, under s.
// Autograd flows back through the move to x.
func ToHead(s *tensor.Scope, x *ts.Tensor, dev gotch.Device) *ts.Tensor {
	return s.T(x.MustTo(dev, false).MustTotype(gotch.Float, true))
}

// FirstErr returns the first non-nil error of errs, or nil. Unlike
// errors.Join it reports one problem, the first in argument order.
func FirstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// PairMask is the [len(assign), ncrops] mask of a multi-crop swapped loss:
// row i is 0 at crop assign[i] (the code's own crop) and 1 elsewhere. The
// caller owns the result, of dtype dt on dev.
func PairMask(assign []int64, ncrops int64, dt gotch.DType, dev gotch.Device) *ts.Tensor {
	a := int64(len(assign))
	v := make([]float64, a*ncrops)
	for i, c := range assign {
		for j := range ncrops {
			if j != c {
				v[int64(i)*ncrops+j] = 1
			}
		}
	}
	x, err := tensor.FromFloat64(v, a, ncrops)
	if err != nil {
		panic(err) // the length always fills the shape
	}
	return x.MustTotype(dt, true).MustTo(dev, true)
}

func isFloat(dt gotch.DType) bool { return dt == gotch.Float || dt == gotch.Double }

// Head is a trainable module with a BatchNorm-aware forward pass, such as
// *nn.MLP (Step.Together, Step.Stacked).
type Head interface {
	Forward(x *ts.Tensor, train bool) *ts.Tensor
}
