package methodkit

import (
	"fmt"
	"slices"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Params overlays config on a copy of defaults and returns the result. A key
// of config that defaults lacks is an error naming the method and the known
// keys, so a misspelt hyper-parameter never passes silently. Neither map is
// changed.
func Params(name string, defaults, config method.Params) (method.Params, error) {
	p := make(method.Params, len(defaults))
	for k, v := range defaults {
		p[k] = v
	}
	for k, v := range config {
		if _, ok := defaults[k]; !ok {
			known := make([]string, 0, len(defaults))
			for k := range defaults {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%s: unknown config key %q (known: %v); fix the method config", name, k, known)
		}
		p[k] = v
	}
	return p, nil
}

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

// Feature returns the feature of req under key, checked to be a float32 or
// float64 [N, dim] matrix with N ≥ minRows. Errors start with "name step:".
func Feature(name string, req method.StepRequest, key string, dim, minRows int64) (*ts.Tensor, error) {
	f, err := req.Features.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%s step: %w; the host must send the views of the Spec", name, err)
	}
	s := f.MustSize()
	if len(s) != 2 || s[0] < max(minRows, 1) || s[1] != dim {
		want := "N"
		if minRows > 1 {
			want = fmt.Sprintf("N ≥ %d", minRows)
		}
		return nil, fmt.Errorf("%s step: feature %s has shape %v, want [%s, %d] (the dimension given to Setup)", name, key, s, want, dim)
	}
	if dt := f.DType(); !isFloat(dt) {
		return nil, fmt.Errorf("%s step: feature %s is %v, want float32 or float64", name, key, dt)
	}
	return f, nil
}

// Features returns the features of req under keys as Feature does, and
// checks that they all have one batch size (their dtypes may differ).
func Features(name string, req method.StepRequest, dim, minRows int64, keys ...string) ([]*ts.Tensor, error) {
	out := make([]*ts.Tensor, len(keys))
	for i, key := range keys {
		f, err := Feature(name, req, key, dim, minRows)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			if n, n0 := f.MustSize()[0], out[0].MustSize()[0]; n != n0 {
				return nil, fmt.Errorf("%s step: feature %s has %d rows, %s has %d", name, key, n, keys[0], n0)
			}
		}
		out[i] = f
	}
	return out, nil
}

// Pair returns the features of req under key1 and key2, checked to be
// [N ≥ 2, dim] float matrices of one shape and dtype: the prologue of a
// Step that contrasts two views. Errors start with "name step:".
func Pair(name string, req method.StepRequest, key1, key2 string, dim int64) (f1, f2 *ts.Tensor, err error) {
	if f1, err = req.Features.Get(key1); err != nil {
		return nil, nil, fmt.Errorf("%s step: %w; the host must send the views of the Spec", name, err)
	}
	if f2, err = req.Features.Get(key2); err != nil {
		return nil, nil, fmt.Errorf("%s step: %w; the host must send the views of the Spec", name, err)
	}
	if err := SamePairs(f1, f2, 2); err != nil {
		return nil, nil, fmt.Errorf("%s step: features: %w", name, err)
	}
	if d := f1.MustSize()[1]; d != dim {
		return nil, nil, fmt.Errorf("%s step: features of dimension %d, set up for %d", name, d, dim)
	}
	return f1, f2, nil
}

// ToHead moves a (leaf) feature to the heads' device as float32, under s.
// Autograd flows back through the move to x.
func ToHead(s *tensor.Scope, x *ts.Tensor, dev gotch.Device) *ts.Tensor {
	return s.T(x.MustTo(dev, false).MustTotype(gotch.Float, true))
}

// Grads collects the gradients of leaves (made with nn.Leaf) under the
// feature keys of the same index, for a StepResponse. On an error it frees
// the gradients already taken.
func Grads(keys []string, leaves []*ts.Tensor) (method.Tensors, error) {
	out := method.Tensors{}
	for i, k := range keys {
		g, err := nn.Grad(leaves[i])
		if err != nil {
			out.Drop()
			return nil, err
		}
		out[k] = g
	}
	return out, nil
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
// *nn.MLP.
type Head interface {
	Forward(x *ts.Tensor, train bool) *ts.Tensor
}

// ProjectTogether runs head once on the leaves l1 and l2 [N, D] stacked as
// one batch of 2N rows (so BatchNorm sees both views, as SimCLR's reference
// does), moved to dev as float32, and returns the two halves [N, ·]. Every
// tensor it makes is freed with s.
func ProjectTogether(s *tensor.Scope, head Head, train bool, dev gotch.Device, l1, l2 *ts.Tensor) (z1, z2 *ts.Tensor) {
	n := l1.MustSize()[0]
	x := ToHead(s, s.T(ts.MustCat([]*ts.Tensor{l1, l2}, 0)), dev)
	z := s.T(head.Forward(x, train))
	return s.T(z.MustNarrow(0, 0, n, false)), s.T(z.MustNarrow(0, n, n, false))
}
