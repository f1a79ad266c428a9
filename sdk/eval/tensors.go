package eval

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// checkFeatures checks that x is a floating-point matrix [N, D] with
// N, D > 0 and returns N and D.
func checkFeatures(what string, x *ts.Tensor) (n, d int64, err error) {
	if x == nil {
		return 0, 0, fmt.Errorf("eval: no %s features; pass a [N, D] tensor", what)
	}
	shape := x.MustSize()
	if len(shape) != 2 || shape[0] == 0 || shape[1] == 0 {
		return 0, 0, fmt.Errorf("eval: %s features have shape %v; want a non-empty matrix [N, D] (flatten them first)", what, shape)
	}
	switch x.DType() {
	case gotch.Float, gotch.Double, gotch.Half, gotch.BFloat16:
	default:
		return 0, 0, fmt.Errorf("eval: %s features are %v; want floating-point features", what, x.DType())
	}
	return shape[0], shape[1], nil
}

// checkLabels checks that labels has n entries in [0, classes).
func checkLabels(what string, labels []int, n int64, classes int) error {
	if int64(len(labels)) != n {
		return fmt.Errorf("eval: %d %s labels for %d features; pass one label per row", len(labels), what, n)
	}
	for i, l := range labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("eval: %s label %d of row %d is outside [0, %d); drop unlabelled images (label %d) or raise the number of classes", what, l, i, classes, -1)
		}
	}
	return nil
}

// numClasses returns classes when positive, else 1 + the largest label.
func numClasses(classes int, labels ...[]int) int {
	if classes > 0 {
		return classes
	}
	m := 0
	for _, ls := range labels {
		for _, l := range ls {
			m = max(m, l+1)
		}
	}
	return m
}

// labelTensor copies labels into an int64 tensor [N] on device.
func labelTensor(labels []int, device gotch.Device) (*ts.Tensor, error) {
	v := make([]int64, len(labels))
	for i, l := range labels {
		v[i] = int64(l)
	}
	t, err := tensor.FromInt64(v, int64(len(v)))
	if err != nil {
		return nil, fmt.Errorf("eval: labels: %w", err)
	}
	if device == gotch.CPU {
		return t, nil
	}
	defer t.MustDrop()
	return t.MustTo(device, false), nil
}

// sameDevice returns the device of x and checks that y is on it too.
func sameDevice(x, y *ts.Tensor) (gotch.Device, error) {
	dx, dy := x.MustDevice(), y.MustDevice()
	if dx != dy {
		return dx, fmt.Errorf("eval: train features are on %s and test features on %s; move both to one device", tensor.DeviceName(dx), tensor.DeviceName(dy))
	}
	return dx, nil
}

// asType returns x as dtype: a new tensor either way, which the caller
// frees.
func asType(x *ts.Tensor, dtype gotch.DType) *ts.Tensor {
	if x.DType() == dtype {
		return x.MustShallowClone()
	}
	return x.MustTotype(dtype, false)
}

// l2Normalize returns x / max(‖x_i‖₂, 1e-12) row by row, as
// torch.nn.functional.normalize(x, dim=1) does, as a new tensor.
func l2Normalize(x *ts.Tensor) *ts.Tensor {
	// Scalars are freed by their finalizers (gotch's Scalar.Drop is a no-op).
	n := x.MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, true, false)
	n2 := n.MustClampMin(ts.FloatScalar(1e-12), true)
	defer n2.MustDrop()
	return x.MustDiv(n2, false)
}
