package plot

import (
	"math"
	"strconv"
)

// axis maps data values to pixels along one direction, linearly or on a
// log10 scale, and lists its ticks.
type axis struct {
	lo, hi   float64 // data range shown (in log10 units when log)
	log      bool
	from, to float64 // pixel positions of lo and hi
}

// pos returns the pixel position of data value v.
func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// tick is one labelled value on an axis.
type tick struct {
	value float64
	label string
}

// padRange widens [lo, hi] by frac of its span on each side, or to a
// unit span around a single value.
func padRange(lo, hi, frac float64) (float64, float64) {
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.1, 1e-9)
		if lo == 0 {
			d = 1
		}
		return lo - d, hi + d
	}
	d := (hi - lo) * frac
	return lo - d, hi + d
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts
// span into about n pieces.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f < 1.5:
		return mag
	case f < 3.5:
		return 2 * mag
	case f < 7.5:
		return 5 * mag
	}
	return 10 * mag
}

// linearTicks returns round values in [lo, hi], about n of them.
func linearTicks(lo, hi float64, n int) []tick {
	step := niceStep(hi-lo, n)
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var out []tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v := k * step
		if v == 0 {
			v = 0 // no "-0"
		}
		out = append(out, tick{v, formatTick(v, decimals)})
	}
	return out
}

// formatTick writes v with the given decimals, or in e-notation when it
// is very large or small.
func formatTick(v float64, decimals int) string {
	if a := math.Abs(v); a != 0 && (a >= 1e6 || a < 1e-4) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// logTicks returns ticks for a log10 axis showing [10^lo, 10^hi]: the
// powers of ten, then 2× and 5× them when too few, then round linear
// values when the range is under a decade.
func logTicks(lo, hi float64) []tick {
	in := func(v float64) bool { l := math.Log10(v); return l >= lo-1e-9 && l <= hi+1e-9 }
	var out []tick
	for _, mults := range [][]float64{{1}, {1, 2, 5}} {
		out = out[:0]
		for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
			for _, m := range mults {
				if v := m * math.Pow(10, e); in(v) {
					out = append(out, tick{v, strconv.FormatFloat(v, 'g', 3, 64)})
				}
			}
		}
		if len(out) >= 3 {
			return out
		}
	}
	var lin []tick
	for _, t := range linearTicks(math.Pow(10, lo), math.Pow(10, hi), 4) {
		if t.value > 0 {
			lin = append(lin, t)
		}
	}
	return lin
}
