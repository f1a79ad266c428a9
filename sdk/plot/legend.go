package plot

import (
	"image"
	"image/color"
	"math"
)

// legend draws a box in a corner of the plot area naming each series
// with a swatch of its line, in the corner that hides the fewest drawn
// points. Series without names are left out.
func (c LineChart) legend(img *image.RGBA, fs *fonts, area image.Rectangle, lines []line, drawn [][]point, scale float64) {
	var names []int
	textW := 0
	for i, l := range lines {
		if l.name != "" {
			names = append(names, i)
			textW = max(textW, textWidth(fs.tick, l.name))
		}
	}
	if len(names) == 0 {
		return
	}
	pad := int(8 * scale)
	swatch := int(24 * scale)
	rowH := textHeight(fs.tick) + pad/2
	boxW := pad + swatch + pad/2 + textW + pad
	boxH := pad + rowH*len(names) - pad/2 + pad
	box, ok := legendPlace(area, boxW, boxH, pad, drawn)
	if !ok {
		return // too small a chart for a legend
	}
	fillRect(img, box, color.RGBA{0xff, 0xff, 0xff, 0xff})
	frame(img, box, rgb(0xbbbbbb))
	palette := Palette()
	for row, i := range names {
		cy := box.Min.Y + pad + row*rowH + textHeight(fs.tick)/2
		col := palette[i%len(palette)]
		x0 := float32(box.Min.X + pad)
		strokeLines(img, [][]point{{{x0, float32(cy)}, {x0 + float32(swatch), float32(cy)}}}, float32(2.5*scale), col)
		drawText(img, fs.tick, rgb(colText), image.Pt(box.Min.X+pad+swatch+pad/2, cy), anchor{0, 0.5}, lines[i].name)
	}
}

// legendPlace picks the corner of area for a w×h legend box that covers
// the fewest points of drawn, preferring top right, top left, bottom
// right, bottom left on ties. It reports false when the box does not fit.
func legendPlace(area image.Rectangle, w, h, pad int, drawn [][]point) (image.Rectangle, bool) {
	corners := []image.Point{
		{area.Max.X - pad - w, area.Min.Y + pad},
		{area.Min.X + pad, area.Min.Y + pad},
		{area.Max.X - pad - w, area.Max.Y - pad - h},
		{area.Min.X + pad, area.Max.Y - pad - h},
	}
	best, bestN := image.Rectangle{}, -1
	for _, p := range corners {
		box := image.Rectangle{p, p.Add(image.Pt(w, h))}
		if !box.In(area) {
			return image.Rectangle{}, false
		}
		// Count points near the box too, so lines just outside stay clear.
		near := box.Inset(-pad / 2)
		n := 0
		for _, run := range drawn {
			for i := range run {
				n += coveredSteps(run, i, near)
			}
		}
		if bestN < 0 || n < bestN {
			best, bestN = box, n
		}
	}
	return best, true
}

// coveredSteps counts the samples, every 4 pixels, of the segment that
// ends at run[i] (or of the point itself when i is 0) that fall in r.
func coveredSteps(run []point, i int, r image.Rectangle) int {
	p := run[i]
	if i == 0 {
		if image.Pt(int(p.x), int(p.y)).In(r) {
			return 1
		}
		return 0
	}
	q := run[i-1]
	dx, dy := p.x-q.x, p.y-q.y
	steps := int(math.Hypot(float64(dx), float64(dy))/4) + 1
	n := 0
	for k := 1; k <= steps; k++ {
		f := float32(k) / float32(steps)
		if image.Pt(int(q.x+f*dx), int(q.y+f*dy)).In(r) {
			n++
		}
	}
	return n
}
