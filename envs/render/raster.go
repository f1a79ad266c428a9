package render

import (
	"image"
	"math"
)

// minRadius is the smallest radius, in pixels, a round shape is drawn at.
// Thinner shapes (a string at 84x84) are drawn at this radius with their
// opacity scaled down, which keeps them visible without aliasing.
const minRadius = 0.6

// rgb is a linear colour with channels in [0, 1].
type rgb struct{ r, g, b float64 }

func (c rgb) scale(s float64) rgb { return rgb{c.r * s, c.g * s, c.b * s} }
func (c rgb) add(d rgb) rgb       { return rgb{c.r + d.r, c.g + d.g, c.b + d.b} }
func (c rgb) mix(d rgb, t float64) rgb {
	return rgb{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t}
}

func to8(v float64) uint8 {
	v = v*255 + 0.5
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

func clamp01(v float64) float64 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// blend composites colour c with opacity a over the pixel at offset i.
func blend(pix []uint8, i int, c rgb, a float64) {
	if a >= 1 {
		pix[i+0] = to8(c.r)
		pix[i+1] = to8(c.g)
		pix[i+2] = to8(c.b)
		pix[i+3] = 255
		return
	}
	p := pix[i : i+4 : i+4]
	p[0] = to8(float64(p[0])/255*(1-a) + c.r*a)
	p[1] = to8(float64(p[1])/255*(1-a) + c.g*a)
	p[2] = to8(float64(p[2])/255*(1-a) + c.b*a)
	p[3] = 255
}

// pxShape is a shape in pixel space, ready to rasterise.
type pxShape struct {
	kind       Kind
	ax, ay     float64 // circle centre, capsule start, box centre
	bx, by     float64 // capsule end
	dx, dy     float64 // capsule direction (unit) and length
	length     float64
	hx, hy     float64 // box half extents
	cos, sin   float64 // box rotation in pixel space (y down)
	r          float64 // radius in pixels (as drawn)
	alphaScale float64
	// texture frame: local axes of the body in pixel space
	tcos, tsin float64
}

func (r *Renderer) drawShape(dst *image.RGBA, xf transform, s *Shape) {
	var p pxShape
	p.kind = s.Kind
	p.ax, p.ay = xf.px(s.A)
	p.alphaScale = 1
	if s.Alpha > 0 {
		p.alphaScale = s.Alpha
	}
	p.r = s.R * xf.scale
	if s.Kind != Box && p.r < minRadius {
		p.alphaScale *= p.r / minRadius
		p.r = minRadius
	}
	// Texture axes follow the body; pixel y points down, so angles flip.
	p.tcos, p.tsin = math.Cos(-s.Angle), math.Sin(-s.Angle)
	var x0, y0, x1, y1 float64
	switch s.Kind {
	case Circle:
		x0, y0, x1, y1 = p.ax-p.r, p.ay-p.r, p.ax+p.r, p.ay+p.r
	case Capsule:
		p.bx, p.by = xf.px(s.B)
		ddx, ddy := p.bx-p.ax, p.by-p.ay
		p.length = math.Hypot(ddx, ddy)
		if p.length > 0 {
			p.dx, p.dy = ddx/p.length, ddy/p.length
		} else {
			p.dx = 1
		}
		x0, x1 = math.Min(p.ax, p.bx)-p.r, math.Max(p.ax, p.bx)+p.r
		y0, y1 = math.Min(p.ay, p.by)-p.r, math.Max(p.ay, p.by)+p.r
	case Box:
		p.hx, p.hy = s.B.X*xf.scale, s.B.Y*xf.scale
		p.cos, p.sin = p.tcos, p.tsin
		ex := math.Abs(p.hx*p.cos) + math.Abs(p.hy*p.sin) + p.r
		ey := math.Abs(p.hx*p.sin) + math.Abs(p.hy*p.cos) + p.r
		x0, y0, x1, y1 = p.ax-ex, p.ay-ey, p.ax+ex, p.ay+ey
	default:
		return
	}
	ix0 := max(int(math.Floor(x0-1)), 0)
	iy0 := max(int(math.Floor(y0-1)), 0)
	ix1 := min(int(math.Ceil(x1+1)), xf.w)
	iy1 := min(int(math.Ceil(y1+1)), xf.h)
	if ix0 >= ix1 || iy0 >= iy1 {
		return
	}
	base := r.materialColor(s.Mat)
	textured := r.style == Textured
	for y := iy0; y < iy1; y++ {
		fy := float64(y) + 0.5
		row := dst.PixOffset(xf.origin.X, xf.origin.Y+y)
		for x := ix0; x < ix1; x++ {
			fx := float64(x) + 0.5
			d, nx, ny := p.dist(fx, fy)
			cov := 0.5 - d
			if cov <= 0 {
				continue
			}
			if cov > 1 {
				cov = 1
			}
			c := base
			if textured {
				c = r.shade(s.Mat, base, &p, fx, fy, d, nx, ny, xf.scale)
			}
			blend(dst.Pix, row+4*x, c, cov*p.alphaScale)
		}
	}
}

// dist returns the signed distance in pixels from (x, y) to the shape's
// edge (negative inside) and the offset from the shape's core normalised
// to the radius, used as a surface normal for shading.
func (p *pxShape) dist(x, y float64) (d, nx, ny float64) {
	switch p.kind {
	case Circle:
		ox, oy := x-p.ax, y-p.ay
		l := math.Sqrt(ox*ox + oy*oy)
		return l - p.r, ox / p.r, oy / p.r
	case Capsule:
		ox, oy := x-p.ax, y-p.ay
		t := ox*p.dx + oy*p.dy
		if t < 0 {
			t = 0
		} else if t > p.length {
			t = p.length
		}
		ox -= t * p.dx
		oy -= t * p.dy
		l := math.Sqrt(ox*ox + oy*oy)
		return l - p.r, ox / p.r, oy / p.r
	default: // Box
		ox, oy := x-p.ax, y-p.ay
		lx := ox*p.cos + oy*p.sin
		ly := -ox*p.sin + oy*p.cos
		qx, qy := math.Abs(lx)-p.hx, math.Abs(ly)-p.hy
		ox2, oy2 := math.Max(qx, 0), math.Max(qy, 0)
		d = math.Sqrt(ox2*ox2+oy2*oy2) + math.Min(math.Max(qx, qy), 0) - p.r
		// Normal for a bevel: towards the nearest edge, strongest at it.
		bevel := math.Min(p.hx, p.hy) * 0.35
		if bevel <= 0 {
			return d, 0, 0
		}
		t := clamp01(1 + d/bevel)
		var gx, gy float64
		if qx > qy {
			gx = math.Copysign(t, lx)
		} else {
			gy = math.Copysign(t, ly)
		}
		// back to pixel axes
		return d, (gx*p.cos - gy*p.sin) * 0.8, (gx*p.sin + gy*p.cos) * 0.8
	}
}
