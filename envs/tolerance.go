package envs

import (
	"fmt"
	"math"
)

// Sigmoid is the shape of Tolerance's fall-off outside its bounds, as in
// dm_control's rewards.tolerance.
type Sigmoid uint8

const (
	// Gaussian is exp(-(x*s)^2/2), dm_control's default.
	Gaussian Sigmoid = iota
	// Hyperbolic is 1/cosh(x*s).
	Hyperbolic
	// LongTail is 1/((x*s)^2+1).
	LongTail
	// Reciprocal is 1/(|x|*s+1).
	Reciprocal
	// Cosine is (1+cos(pi*x*s))/2 within |x*s|<1, else 0.
	Cosine
	// Linear is 1-x*s within |x*s|<1, else 0.
	Linear
	// Quadratic is 1-(x*s)^2 within |x*s|<1, else 0.
	Quadratic
	// TanhSquared is 1-tanh(x*s)^2.
	TanhSquared
)

// DefaultValueAtMargin is Tolerance's usual value at margin distance from
// the bounds (dm_control's default).
const DefaultValueAtMargin = 0.1

// Tolerance returns 1 when lower <= x <= upper and falls off with the
// distance d to the nearest bound otherwise, as dm_control's
// rewards.tolerance: with margin 0 it is 0 outside the bounds; with margin
// > 0 it is sigmoid(d/margin) scaled so that it equals valueAtMargin at
// d == margin. It panics if lower > upper, margin < 0 or valueAtMargin is out
// of the sigmoid's range (0 < v < 1; 0 <= v < 1 for Cosine, Linear and
// Quadratic), which are programming errors.
func Tolerance(x, lower, upper, margin float64, sigmoid Sigmoid, valueAtMargin float64) float64 {
	if lower > upper {
		panic(fmt.Sprintf("envs.Tolerance: lower bound %v > upper bound %v", lower, upper))
	}
	if margin < 0 {
		panic(fmt.Sprintf("envs.Tolerance: negative margin %v", margin))
	}
	if lower <= x && x <= upper {
		return 1
	}
	if margin == 0 {
		return 0
	}
	var d float64
	if x < lower {
		d = (lower - x) / margin
	} else {
		d = (x - upper) / margin
	}
	return sigmoidAt(d, valueAtMargin, sigmoid)
}

// sigmoidAt returns 1 at x == 0, value at |x| == 1, and falls off between.
func sigmoidAt(x, value float64, s Sigmoid) float64 {
	switch s {
	case Cosine, Linear, Quadratic:
		if value < 0 || value >= 1 {
			panic(fmt.Sprintf("envs.Tolerance: valueAtMargin %v must be in [0, 1)", value))
		}
	default:
		if value <= 0 || value >= 1 {
			panic(fmt.Sprintf("envs.Tolerance: valueAtMargin %v must be in (0, 1)", value))
		}
	}
	switch s {
	case Gaussian:
		scale := math.Sqrt(-2 * math.Log(value))
		return math.Exp(-0.5 * (x * scale) * (x * scale))
	case Hyperbolic:
		scale := math.Acosh(1 / value)
		return 1 / math.Cosh(x*scale)
	case LongTail:
		scale := math.Sqrt(1/value - 1)
		return 1 / ((x*scale)*(x*scale) + 1)
	case Reciprocal:
		scale := 1/value - 1
		return 1 / (math.Abs(x)*scale + 1)
	case Cosine:
		scale := math.Acos(2*value-1) / math.Pi
		sx := x * scale
		if math.Abs(sx) < 1 {
			return (1 + math.Cos(math.Pi*sx)) / 2
		}
		return 0
	case Linear:
		sx := x * (1 - value)
		if math.Abs(sx) < 1 {
			return 1 - sx
		}
		return 0
	case Quadratic:
		sx := x * math.Sqrt(1-value)
		if math.Abs(sx) < 1 {
			return 1 - sx*sx
		}
		return 0
	case TanhSquared:
		scale := math.Atanh(math.Sqrt(1 - value))
		t := math.Tanh(x * scale)
		return 1 - t*t
	}
	panic(fmt.Sprintf("envs.Tolerance: unknown sigmoid %d", s))
}
