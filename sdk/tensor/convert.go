package tensor

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Numel is the number of elements of a shape.
func Numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// fromRaw copies n elements of dtype at p into a new CPU tensor of shape.
func fromRaw(p unsafe.Pointer, dtype gotch.DType, shape []int64) (*ts.Tensor, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	dims := make([]int64, max(len(shape), 1)) // lib wants &dims[0] even for a scalar
	copy(dims, shape)
	var zero [8]byte
	if p == nil {
		p = unsafe.Pointer(&zero[0]) // no elements: any valid pointer
	}
	c := lib.AtTensorOfData(p, dims, uint(len(shape)), dtype.Size(), int(dtype.CKind()))
	if err := ts.TorchErr(); err != nil {
		return nil, fmt.Errorf("tensor of shape %v: %w", shape, err)
	}
	return ts.New(c), nil
}

func checkLen(n int, shape []int64) error {
	if int64(n) != Numel(shape) {
		return fmt.Errorf("%d values do not fill shape %v (%d elements)", n, shape, Numel(shape))
	}
	return nil
}

func first[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// FromFloat32 copies data into a new CPU float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int64) (*ts.Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return fromRaw(first(data), gotch.Float, shape)
}

// FromFloat64 copies data into a new CPU float64 tensor of the given shape.
func FromFloat64(data []float64, shape ...int64) (*ts.Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return fromRaw(first(data), gotch.Double, shape)
}

// FromInt64 copies data into a new CPU int64 tensor of the given shape.
func FromInt64(data []int64, shape ...int64) (*ts.Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return fromRaw(first(data), gotch.Int64, shape)
}

// FromUint8 copies data into a new CPU uint8 tensor of the given shape
// (images as N×C×H×W bytes).
func FromUint8(data []uint8, shape ...int64) (*ts.Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return fromRaw(first(data), gotch.Uint8, shape)
}

// FromBytes makes a CPU tensor from little-endian raw bytes (the wire
// format: dtype, shape, bytes).
func FromBytes(raw []byte, dtype gotch.DType, shape []int64) (*ts.Tensor, error) {
	want := Numel(shape) * int64(dtype.Size())
	if int64(len(raw)) != want {
		return nil, fmt.Errorf("%d bytes do not fill a %v tensor of shape %v (%d bytes)", len(raw), dtype, shape, want)
	}
	return fromRaw(first(raw), dtype, shape)
}

// AppendBytes appends the tensor's elements as little-endian raw bytes
// (from any device and layout) to dst and returns the extended slice.
func AppendBytes(dst []byte, t *ts.Tensor) ([]byte, error) {
	n := t.Numel()
	size := t.DType().Size()
	start := len(dst)
	dst = append(dst, make([]byte, int(n*size))...)
	if n == 0 {
		return dst, nil
	}
	lib.AtCopyData(lib.Ctensor(t.Ctensor()), unsafe.Pointer(&dst[start]), n, size)
	if err := ts.TorchErr(); err != nil {
		return dst[:start], fmt.Errorf("copy tensor data: %w", err)
	}
	return dst, nil
}

func values[T any](t *ts.Tensor, want gotch.DType) ([]T, error) {
	if t.DType() != want {
		return nil, fmt.Errorf("tensor is %v, want %v", t.DType(), want)
	}
	out := make([]T, t.Numel())
	if len(out) == 0 {
		return out, nil
	}
	lib.AtCopyData(lib.Ctensor(t.Ctensor()), unsafe.Pointer(&out[0]), t.Numel(), want.Size())
	if err := ts.TorchErr(); err != nil {
		return nil, fmt.Errorf("copy tensor data: %w", err)
	}
	return out, nil
}

// Float32s copies a float32 tensor's elements (row-major) into a slice.
func Float32s(t *ts.Tensor) ([]float32, error) { return values[float32](t, gotch.Float) }

// Float64s copies a float64 tensor's elements (row-major) into a slice.
func Float64s(t *ts.Tensor) ([]float64, error) { return values[float64](t, gotch.Double) }

// AsFloat64s reads any real tensor's elements (row-major) as float64 values,
// int64 exactly.
func AsFloat64s(t *ts.Tensor) ([]float64, error) {
	switch t.DType() {
	case gotch.Double:
		return Float64s(t)
	case gotch.Int64:
		v, err := Int64s(t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	}
	d, err := t.Totype(gotch.Double, false)
	if err != nil {
		return nil, fmt.Errorf("convert %v to float64: %w", t.DType(), err)
	}
	defer d.MustDrop()
	return Float64s(d)
}

// Int64s copies an int64 tensor's elements (row-major) into a slice.
func Int64s(t *ts.Tensor) ([]int64, error) { return values[int64](t, gotch.Int64) }
