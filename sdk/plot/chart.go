package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Series is one named line of a chart.
type Series struct {
	Name string
	// X holds the x value of each point; nil means 0, 1, 2, ...
	X []float64
	// Y holds the y values; NaN and ±Inf values (and values <= 0 on a
	// log axis) are skipped, leaving a gap in the line.
	Y []float64
}

// LineChart is a chart of one or more series against a shared x axis,
// such as loss or accuracy curves. The zero value with some Series draws
// an 800×500 chart.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// LogY puts the y axis on a log10 scale (good for losses).
	LogY bool
	// Smooth, in [0, 1), overlays an EMA of each series with this weight
	// (as TensorBoard's smoothing slider) on a faint copy of the raw
	// values; 0 draws the raw values only.
	Smooth float64
	// Width and Height are the picture size in pixels; zero means 800×500.
	Width, Height int
}

// Colors of the frame and text, as 0xRRGGBB.
const (
	colBackground = 0xffffff
	colGrid       = 0xe6e6e6
	colFrame      = 0x555555
	colText       = 0x222222
)

// rgb turns 0xRRGGBB into an opaque color.
func rgb(v uint32) color.RGBA {
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}

// Render draws the chart. It fails when there is nothing to draw: no
// series, or no finite value in any of them.
func (c LineChart) Render() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w == 0 && h == 0 {
		w, h = 800, 500
	}
	if w < 200 || h < 150 {
		return nil, fmt.Errorf("plot: chart %q is %d×%d pixels; make it at least 200×150", c.Title, w, h)
	}
	if !(c.Smooth >= 0 && c.Smooth < 1) {
		return nil, fmt.Errorf("plot: chart %q: smoothing %v; use a weight in [0, 1), e.g. 0.9", c.Title, c.Smooth)
	}
	lines, err := c.points()
	if err != nil {
		return nil, err
	}
	xlo, xhi, ylo, yhi := bounds(lines)
	if c.LogY {
		ylo, yhi = math.Log10(ylo), math.Log10(yhi)
	}

	// Font sizes grow with the picture so large charts stay legible.
	scale := math.Max(1, math.Min(float64(w)/800, float64(h)/500))
	fs, err := newFonts(13*scale, 15*scale, 18*scale)
	if err != nil {
		return nil, err
	}
	xa := axis{log: false}
	xa.lo, xa.hi = padRange(xlo, xhi, 0.02)
	ya := axis{log: c.LogY}
	ya.lo, ya.hi = padRange(ylo, yhi, 0.05)
	if xlo == xhi { // one point: keep it in the middle
		xa.lo, xa.hi = padRange(xlo, xhi, 0)
	}
	xt := linearTicks(xa.lo, xa.hi, max(3, w/110))
	var yt []tick
	if ya.log {
		yt = logTicks(ya.lo, ya.hi)
	} else {
		yt = linearTicks(ya.lo, ya.hi, max(3, h/70))
	}

	// Margins: room for the title, tick labels and axis labels.
	pad := int(10 * scale)
	tickLen := int(5 * scale)
	yTickW := 0
	for _, t := range yt {
		yTickW = max(yTickW, textWidth(fs.tick, t.label))
	}
	left := pad + yTickW + tickLen + pad/2
	if c.YLabel != "" {
		left += textHeight(fs.label) + pad/2
	}
	top := pad
	if c.Title != "" {
		top += textHeight(fs.title) + pad/2
	}
	bottom := pad + textHeight(fs.tick) + tickLen + pad/2
	if c.XLabel != "" {
		bottom += textHeight(fs.label) + pad/2
	}
	right := 2 * pad
	area := image.Rect(left, top, w-right, h-bottom)
	xa.from, xa.to = float64(area.Min.X), float64(area.Max.X-1)
	ya.from, ya.to = float64(area.Max.Y-1), float64(area.Min.Y)

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(img, img.Bounds(), rgb(colBackground))
	for _, t := range xt {
		x := int(xa.pos(t.value) + 0.5)
		vline(img, x, area.Min.Y, area.Max.Y-1, rgb(colGrid))
		vline(img, x, area.Max.Y, area.Max.Y+tickLen-1, rgb(colFrame))
		drawText(img, fs.tick, rgb(colText), image.Pt(x, area.Max.Y+tickLen+pad/4), anchor{0.5, 0}, t.label)
	}
	for _, t := range yt {
		y := int(ya.pos(t.value) + 0.5)
		hline(img, area.Min.X, area.Max.X-1, y, rgb(colGrid))
		hline(img, area.Min.X-tickLen, area.Min.X-1, y, rgb(colFrame))
		drawText(img, fs.tick, rgb(colText), image.Pt(area.Min.X-tickLen-pad/3, y), anchor{1, 0.5}, t.label)
	}
	if c.Title != "" {
		drawText(img, fs.title, rgb(colText), image.Pt((area.Min.X+area.Max.X)/2, pad), anchor{0.5, 0}, c.Title)
	}
	if c.XLabel != "" {
		drawText(img, fs.label, rgb(colText), image.Pt((area.Min.X+area.Max.X)/2, h-pad), anchor{0.5, 1}, c.XLabel)
	}
	if c.YLabel != "" {
		drawTextUp(img, fs.label, rgb(colText), image.Pt(pad+textHeight(fs.label)/2, (area.Min.Y+area.Max.Y)/2), c.YLabel)
	}

	// With smoothing, all faint raw lines go first so no raw line hides
	// a smoothed one.
	palette := Palette()
	var drawn [][]point
	for i, l := range lines {
		col, w := palette[i%len(palette)], float32(2*scale)
		if c.Smooth > 0 {
			col, w = tint(col, 0.65), float32(1.2*scale)
		}
		pl := project(l.raw, xa, ya)
		strokeLines(img, pl, w, col)
		drawn = append(drawn, pl...)
	}
	for i, l := range lines {
		if c.Smooth > 0 {
			strokeLines(img, project(l.smooth, xa, ya), float32(2*scale), palette[i%len(palette)])
		}
	}
	frame(img, area, rgb(colFrame))
	c.legend(img, fs, area, lines, drawn, scale)
	return img, nil
}

// frame draws the box around the plot area.
func frame(img *image.RGBA, r image.Rectangle, c color.Color) {
	hline(img, r.Min.X, r.Max.X-1, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X-1, r.Max.Y-1, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y-1, c)
	vline(img, r.Max.X-1, r.Min.Y, r.Max.Y-1, c)
}
