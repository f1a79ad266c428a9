package encoder

import (
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// The trunks call libtorch through these few wrappers rather than through
// gotch's generated methods, for two leaks in gotch v0.9.1 that a training
// step would otherwise hit every time:
//
//   - gotch's in-place methods (Relu_, Add_, AddScalar_, Lerp_, ...) replace
//     the receiver's C handle with the one the op returns and never free the
//     old handle, so the tensor's storage is never released: an in-place
//     ReLU on an activation leaks the whole activation;
//   - every generated op mallocs a small result cell (malloc(0)) that is
//     never freed.
//
// Here the result cell lives on the Go side and the extra handle an
// in-place op returns is freed at once.

func call(op string, f func(out *lib.Ctensor)) (*ts.Tensor, error) { return tensor.Call(op, f) }

func inPlace(op string, f func(out *lib.Ctensor)) error { return tensor.InPlace(op, f) }

func ct(x *ts.Tensor) lib.Ctensor { return tensor.C(x) }

func conv2d(x, w *ts.Tensor, stride, padding int64) (*ts.Tensor, error) {
	return call("conv2d", func(out *lib.Ctensor) {
		lib.AtgConv2d(out, ct(x), ct(w), ct(ts.None), []int64{stride, stride}, 2, []int64{padding, padding}, 2, []int64{1, 1}, 2, 1)
	})
}

func batchNorm2d(x, w, b, mean, variance *ts.Tensor, train bool) (*ts.Tensor, error) {
	t := int32(0)
	if train {
		t = 1
	}
	return call("batch_norm", func(out *lib.Ctensor) {
		lib.AtgBatchNorm(out, ct(x), ct(w), ct(b), ct(mean), ct(variance), t, bnMomentum, bnEps, 1)
	})
}

func relu_(x *ts.Tensor) error {
	return inPlace("relu_", func(out *lib.Ctensor) { lib.AtgRelu_(out, ct(x)) })
}

func add_(x, y *ts.Tensor) error {
	return inPlace("add_", func(out *lib.Ctensor) { lib.AtgAdd_(out, ct(x), ct(y)) })
}

func addInt_(x *ts.Tensor, v int64) error {
	s := lib.AtsInt(v)
	defer lib.AtsFree(s)
	return inPlace("add_", func(out *lib.Ctensor) { lib.AtgAddScalar_(out, ct(x), s) })
}

func fill_(x *ts.Tensor, v float64) error {
	s := lib.AtsFloat(v)
	defer lib.AtsFree(s)
	return inPlace("fill_", func(out *lib.Ctensor) { lib.AtgFill_(out, ct(x), s) })
}

func uniform_(x *ts.Tensor, lo, hi float64) error {
	return inPlace("uniform_", func(out *lib.Ctensor) { lib.AtgUniform_(out, ct(x), lo, hi) })
}

func normal_(x *ts.Tensor, mean, std float64) error {
	return inPlace("normal_", func(out *lib.Ctensor) { lib.AtgNormal_(out, ct(x), mean, std) })
}

func detach(x *ts.Tensor) (*ts.Tensor, error) {
	return call("detach", func(out *lib.Ctensor) { lib.AtgDetach(out, ct(x)) })
}

func maxPool2d(x *ts.Tensor, k, stride, padding int64) (*ts.Tensor, error) {
	return call("max_pool2d", func(out *lib.Ctensor) {
		lib.AtgMaxPool2d(out, ct(x), []int64{k, k}, 2, []int64{stride, stride}, 2, []int64{padding, padding}, 2, []int64{1, 1}, 2, 0)
	})
}

// globalAvgPool averages [N, C, H, W] over H and W into [N, C], as
// nn.AdaptiveAvgPool2d(1) followed by flatten.
func globalAvgPool(x *ts.Tensor) (*ts.Tensor, error) {
	p, err := call("adaptive_avg_pool2d", func(out *lib.Ctensor) {
		lib.AtgAdaptiveAvgPool2d(out, ct(x), []int64{1, 1}, 2)
	})
	if err != nil {
		return nil, err
	}
	defer p.MustDrop()
	return call("flatten", func(out *lib.Ctensor) { lib.AtgFlatten(out, ct(p), 1, -1) })
}
