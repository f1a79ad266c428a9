package encoder

import (
	"fmt"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// BatchNormSplitter is an encoder whose BatchNorm layers can normalise, in
// train mode, each of n equal splits of a batch with its own statistics
// (method.Spec.BatchNormSplits; the built-in trunks are). n ≤ 1 turns it
// off.
type BatchNormSplitter interface {
	SetBatchNormSplits(n int)
}

// bnConfig is shared by a trunk and all its BatchNorm layers.
type bnConfig struct {
	splits int
}

// SetBatchNormSplits implements BatchNormSplitter.
func (t *trunk) SetBatchNormSplits(n int) { t.bn.splits = n }

// forwardSplit is SplitBatchNorm of MoCo's CIFAR-10 demo in train mode:
// x [N, C, H, W] viewed as [N/S, S·C, H, W], so that split j holds the
// images j, j+S, j+2S, …, normalised with the weights, biases and running
// statistics repeated S times; the running statistics then become the
// mean over the splits of their updates. The batch count grows by one.
func (bn *batchNorm) forwardSplit(x *ts.Tensor, s int64) (*ts.Tensor, error) {
	size, err := x.Size()
	if err != nil {
		return nil, err
	}
	n, c := size[0], size[1]
	if n%s != 0 {
		return nil, fmt.Errorf("a batch of %d does not split into %d BatchNorm splits: pick a batch size that %d divides", n, s, s)
	}
	sc := tensor.NewScope()
	defer sc.Close()
	var ferr error
	do := func(op string, f func(out *lib.Ctensor)) *ts.Tensor {
		if ferr != nil {
			return nil
		}
		y, err := call(op, f)
		if err != nil {
			ferr = err
			return nil
		}
		return sc.T(y)
	}
	rep := func(v *ts.Tensor) *ts.Tensor {
		return do("repeat", func(out *lib.Ctensor) { lib.AtgRepeat(out, ct(v), []int64{s}, 1) })
	}
	wide := []int64{n / s, s * c, size[2], size[3]}
	xv := do("view", func(out *lib.Ctensor) { lib.AtgView(out, ct(x), wide, len(wide)) })
	w, b := rep(bn.w), rep(bn.b)
	var mean, variance *ts.Tensor
	tensor.NoGrad(func() { mean, variance = rep(bn.mean), rep(bn.variance) })
	if ferr != nil {
		return nil, ferr
	}
	yv, err := batchNorm2d(xv, w, b, mean, variance, true)
	if err != nil {
		return nil, err
	}
	y, err := call("view", func(out *lib.Ctensor) { lib.AtgView(out, ct(yv), size, len(size)) })
	yv.MustDrop()
	if err != nil {
		return nil, err
	}
	tensor.NoGrad(func() {
		for _, p := range [][2]*ts.Tensor{{bn.mean, mean}, {bn.variance, variance}} {
			split := []int64{s, c}
			v := do("view", func(out *lib.Ctensor) { lib.AtgView(out, ct(p[1]), split, len(split)) })
			if ferr != nil {
				return
			}
			avg := do("mean", func(out *lib.Ctensor) { lib.AtgMeanDim(out, ct(v), []int64{0}, 1, 0, p[1].DType().CInt()) })
			if ferr != nil {
				return
			}
			if ferr = assign(p[0], avg); ferr != nil {
				return
			}
		}
	})
	if ferr == nil {
		ferr = addInt_(bn.batches, 1)
	}
	if ferr != nil {
		y.MustDrop()
		return nil, fmt.Errorf("split BatchNorm: %w", ferr)
	}
	return y, nil
}
