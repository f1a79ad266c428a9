package envs

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// DType is the element type of a space.
type DType uint8

const (
	// Float64 elements.
	Float64 DType = iota
	// Uint8 elements (pixels).
	Uint8
)

// String returns the dtype's NumPy-style name.
func (d DType) String() string {
	switch d {
	case Float64:
		return "float64"
	case Uint8:
		return "uint8"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Box is Gymnasium's Box space: an n-dimensional array whose elements lie
// within [Low[i], High[i]] (±Inf for unbounded).
type Box struct {
	Low, High []float64
	Shape     []int
	DType     DType
}

// NewBox returns a box of the given shape with the same bounds for every
// element.
func NewBox(low, high float64, dtype DType, shape ...int) Box {
	n := 1
	for _, s := range shape {
		n *= s
	}
	b := Box{Low: make([]float64, n), High: make([]float64, n), Shape: append([]int(nil), shape...), DType: dtype}
	for i := range n {
		b.Low[i], b.High[i] = low, high
	}
	return b
}

// Size returns the number of elements.
func (b Box) Size() int {
	if len(b.Shape) == 0 {
		return 0
	}
	n := 1
	for _, s := range b.Shape {
		n *= s
	}
	return n
}

// Contains reports whether x has the box's size and lies within its bounds.
func (b Box) Contains(x []float64) bool {
	if len(x) != b.Size() {
		return false
	}
	for i, v := range x {
		if math.IsNaN(v) || v < b.Low[i] || v > b.High[i] {
			return false
		}
	}
	return true
}

// Clip returns a copy of x with every element clipped to the box's bounds
// (NaN becomes 0 clipped to the bounds).
func (b Box) Clip(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		if math.IsNaN(v) {
			v = 0
		}
		out[i] = min(max(v, b.Low[i]), b.High[i])
	}
	return out
}

// Sample returns a uniformly random element of a bounded box. Unbounded
// dimensions are sampled from a standard normal shifted to the bound, as
// Gymnasium does.
func (b Box) Sample(rng *rand.Rand) []float64 {
	out := make([]float64, b.Size())
	for i := range out {
		lo, hi := b.Low[i], b.High[i]
		switch {
		case !math.IsInf(lo, 0) && !math.IsInf(hi, 0):
			out[i] = lo + (hi-lo)*rng.Float64()
		case math.IsInf(lo, -1) && math.IsInf(hi, 1):
			out[i] = rng.NormFloat64()
		case math.IsInf(lo, -1):
			out[i] = hi - rng.ExpFloat64()
		default:
			out[i] = lo + rng.ExpFloat64()
		}
		if b.DType == Uint8 {
			out[i] = math.Floor(out[i])
		}
	}
	return out
}

// String describes the box as Gymnasium prints it.
func (b Box) String() string {
	lo, hi := "", ""
	if b.Size() > 0 {
		lo, hi = fmt.Sprint(b.Low[0]), fmt.Sprint(b.High[0])
		for i := range b.Low {
			if b.Low[i] != b.Low[0] || b.High[i] != b.High[0] {
				lo, hi = "[...]", "[...]"
				break
			}
		}
	}
	return fmt.Sprintf("Box(%s, %s, %v, %s)", lo, hi, b.Shape, b.DType)
}

// ObsSpace describes observations: a float64 state vector, uint8
// channels-first pixels, or both. A part with an empty Shape is absent.
type ObsSpace struct {
	State  Box
	Pixels Box
}
