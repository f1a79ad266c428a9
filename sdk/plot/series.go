package plot

import (
	"fmt"
	"math"
)

// line is a series ready to draw: runs of finite points, raw and smoothed.
type line struct {
	name        string
	raw, smooth [][]xy
}

type xy struct{ x, y float64 }

// points turns the series into runs of drawable points, split at
// skipped values, and smooths them when asked.
func (c LineChart) points() ([]line, error) {
	if len(c.Series) == 0 {
		return nil, fmt.Errorf("plot: chart %q has no series; add at least one", c.Title)
	}
	var out []line
	any := false
	for _, s := range c.Series {
		if s.X != nil && len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot: chart %q: series %q has %d x values and %d y values; give one x per y, or none", c.Title, s.Name, len(s.X), len(s.Y))
		}
		ys := s.Y
		var sm []float64
		if c.Smooth > 0 {
			sm = EMA(ys, c.Smooth)
		}
		l := line{name: s.Name}
		l.raw = runs(s.X, ys, c.LogY)
		if sm != nil {
			l.smooth = runs(s.X, sm, c.LogY)
		}
		any = any || len(l.raw) > 0
		out = append(out, l)
	}
	if !any {
		what := "finite"
		if c.LogY {
			what = "finite positive"
		}
		return nil, fmt.Errorf("plot: chart %q has no %s values to draw; check the data (all NaN/Inf, or empty?)", c.Title, what)
	}
	return out, nil
}

// runs splits the points of (xs, ys) at values that cannot be drawn.
func runs(xs, ys []float64, logY bool) [][]xy {
	var out [][]xy
	var cur []xy
	for i, y := range ys {
		x := float64(i)
		if xs != nil {
			x = xs[i]
		}
		if !finite(x) || !finite(y) || (logY && y <= 0) {
			if len(cur) > 0 {
				out, cur = append(out, cur), nil
			}
			continue
		}
		cur = append(cur, xy{x, y})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// bounds returns the range of all raw points, y in log10 units when the
// axis is logarithmic (applied by the caller through axis.log).
func bounds(lines []line) (xlo, xhi, ylo, yhi float64) {
	xlo, ylo = math.Inf(1), math.Inf(1)
	xhi, yhi = math.Inf(-1), math.Inf(-1)
	for _, l := range lines {
		for _, run := range l.raw {
			for _, p := range run {
				xlo, xhi = math.Min(xlo, p.x), math.Max(xhi, p.x)
				ylo, yhi = math.Min(ylo, p.y), math.Max(yhi, p.y)
			}
		}
	}
	return xlo, xhi, ylo, yhi
}

// project maps runs of data points to pixel polylines.
func project(runs [][]xy, xa, ya axis) [][]point {
	out := make([][]point, len(runs))
	for i, run := range runs {
		pts := make([]point, len(run))
		for j, p := range run {
			pts[j] = point{float32(xa.pos(p.x)), float32(ya.pos(p.y))}
		}
		out[i] = pts
	}
	return out
}
