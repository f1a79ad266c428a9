package nn

import (
	"fmt"

	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Normalize returns x / max(‖x‖₂, 1e-12) row-wise (dim 1), as PyTorch's
// F.normalize. The caller owns the result.
func Normalize(x *ts.Tensor) *ts.Tensor {
	n := x.MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, true, false)
	n = n.MustClampMin(ts.FloatScalar(1e-12), true)
	defer n.MustDrop()
	return x.MustDiv(n, false)
}

// CrossEntropy is the mean over rows of logsumexp_j logits_ij − logits_i,t_i
// for int64 targets t (PyTorch's F.cross_entropy, mean reduction). Entries
// of −∞ are allowed (masked logits). The caller owns the result.
func CrossEntropy(logits, targets *ts.Tensor) *ts.Tensor {
	lse := logits.MustLogsumexp([]int64{1}, false, false)
	idx := targets.MustUnsqueeze(1, false)
	picked := logits.MustGather(1, idx, false, false)
	idx.MustDrop()
	picked = picked.MustSqueezeDim(1, true)
	diff := lse.MustSub(picked, true)
	picked.MustDrop()
	defer diff.MustDrop()
	return diff.MustMean(diff.DType(), false)
}

// Arange returns the int64 tensor [0, 1, ..., n-1] on dev.
func Arange(n int64, dev gotch.Device) *ts.Tensor {
	return ts.MustArange(ts.IntScalar(n), gotch.Int64, dev)
}

// Item returns the value of a one-element tensor as a float64 (gotch's
// Float64Values leaves a converted copy to the garbage collector).
func Item(t *ts.Tensor) float64 {
	d := t.MustTotype(gotch.Double, false)
	defer d.MustDrop()
	v, err := tensor.Float64s(d)
	if err != nil || len(v) != 1 {
		panic(fmt.Sprintf("nn.Item of a %v tensor of shape %v: %v", t.DType(), t.MustSize(), err))
	}
	return v[0]
}
