package plot

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/vector"
)

// point is a position in pixels.
type point struct{ x, y float32 }

// strokeLines draws each polyline in lines with the given width and
// color, anti-aliased, with round joins. Every piece is added with the
// same winding, so overlaps stay solid instead of cancelling out.
func strokeLines(dst *image.RGBA, lines [][]point, width float32, c color.Color) {
	b := dst.Bounds()
	var z vector.Rasterizer
	z.Reset(b.Dx(), b.Dy())
	z.DrawOp = draw.Over
	h := width / 2
	for _, pts := range lines {
		for i, p := range pts {
			if i > 0 || len(pts) == 1 {
				disc(&z, p, h)
			}
			if i == 0 {
				continue
			}
			q := pts[i-1]
			dx, dy := p.x-q.x, p.y-q.y
			l := float32(math.Hypot(float64(dx), float64(dy)))
			if l == 0 {
				continue
			}
			nx, ny := -dy/l*h, dx/l*h
			z.MoveTo(q.x+nx, q.y+ny)
			z.LineTo(p.x+nx, p.y+ny)
			z.LineTo(p.x-nx, p.y-ny)
			z.LineTo(q.x-nx, q.y-ny)
			z.ClosePath()
		}
	}
	z.Draw(dst, b, image.NewUniform(c), image.Point{})
}

// disc adds a circle of radius r around p, wound like strokeLines' quads.
func disc(z *vector.Rasterizer, p point, r float32) {
	const n = 12
	for k := range n {
		a := -2 * math.Pi * float64(k) / n
		x, y := p.x+r*float32(math.Cos(a)), p.y+r*float32(math.Sin(a))
		if k == 0 {
			z.MoveTo(x, y)
		} else {
			z.LineTo(x, y)
		}
	}
	z.ClosePath()
}

// fillRect fills r with c.
func fillRect(dst draw.Image, r image.Rectangle, c color.Color) {
	draw.Draw(dst, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// hline and vline draw one-pixel lines.
func hline(dst draw.Image, x0, x1, y int, c color.Color) {
	fillRect(dst, image.Rect(x0, y, x1+1, y+1), c)
}

func vline(dst draw.Image, x, y0, y1 int, c color.Color) {
	fillRect(dst, image.Rect(x, y0, x+1, y1+1), c)
}
