package render

import (
	"image"
	"math"
)

// Material colours, from dm_control's common materials where it has them.
var flatColors = [numMaterials]rgb{
	Self:       {0.7, 0.5, 0.3},
	Effector:   {0.7, 0.4, 0.2},
	Target:     {0.6, 0.3, 0.3},
	Decoration: {0.3, 0.5, 0.7},
	String:     {0.25, 0.25, 0.25},
	Pivot:      {0.3, 0.5, 0.7},
}

// Background colours.
var (
	flatSky      = rgb{0.88, 0.88, 0.86}
	flatFloor    = rgb{0.62, 0.66, 0.70}
	texSkyTop    = rgb{0.40, 0.60, 0.80}
	texSkyBottom = rgb{0.10, 0.16, 0.26}
	gridDark     = rgb{0.10, 0.20, 0.30}
	gridLight    = rgb{0.20, 0.30, 0.40}
	gridMark     = rgb{0.32, 0.44, 0.56}
)

// light is the direction towards the light (x right, y up, z to viewer).
var (
	lightDir = normalize3(-0.45, 0.6, 1)
	halfDir  = normalize3(-0.45, 0.6, 2)
)

func normalize3(x, y, z float64) [3]float64 {
	l := math.Sqrt(x*x + y*y + z*z)
	return [3]float64{x / l, y / l, z / l}
}

func (r *Renderer) materialColor(m Material) rgb {
	if int(m) < len(flatColors) {
		return flatColors[m]
	}
	return rgb{1, 0, 1}
}

// textures holds precomputed noise used by the textured style.
type textures struct {
	noise [noiseSize * noiseSize]float64 // smooth value noise in [-1, 1]
}

const noiseSize = 64

// hash returns a deterministic pseudo-random value in [0, 1) for a lattice
// point.
func hash(x, y int) float64 {
	h := uint32(x)*0x8da6b343 ^ uint32(y)*0xd8163841 ^ 0x9e3779b9
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	h *= 0x297a2d39
	h ^= h >> 15
	return float64(h>>8) / float64(1<<24)
}

func newTextures() *textures {
	t := &textures{}
	// Two octaves of bilinearly interpolated lattice noise, tiling.
	for y := 0; y < noiseSize; y++ {
		for x := 0; x < noiseSize; x++ {
			v := 0.0
			amp := 0.65
			for oct, cells := 0, 8; oct < 2; oct, cells = oct+1, cells*2 {
				fx := float64(x) * float64(cells) / noiseSize
				fy := float64(y) * float64(cells) / noiseSize
				x0, y0 := int(fx), int(fy)
				tx, ty := smooth(fx-float64(x0)), smooth(fy-float64(y0))
				x1, y1 := (x0+1)%cells, (y0+1)%cells
				a := hash(x0+oct*101, y0) + (hash(x1+oct*101, y0)-hash(x0+oct*101, y0))*tx
				b := hash(x0+oct*101, y1) + (hash(x1+oct*101, y1)-hash(x0+oct*101, y1))*tx
				v += amp * (a + (b-a)*ty)
				amp = 0.35
			}
			t.noise[y*noiseSize+x] = 2*v - 1
		}
	}
	return t
}

func smooth(t float64) float64 { return t * t * (3 - 2*t) }

// at samples the noise tile with wrap-around at texture coordinates (u, v),
// one tile per unit.
func (t *textures) at(u, v float64) float64 {
	x := int(math.Floor(u*noiseSize)) & (noiseSize - 1)
	y := int(math.Floor(v*noiseSize)) & (noiseSize - 1)
	return t.noise[y*noiseSize+x]
}

// smoothAt samples the noise tile with bilinear interpolation, for large
// soft patterns such as clouds.
func (t *textures) smoothAt(u, v float64) float64 {
	fx, fy := u*noiseSize-0.5, v*noiseSize-0.5
	x0, y0 := math.Floor(fx), math.Floor(fy)
	tx, ty := fx-x0, fy-y0
	ix, iy := int(x0), int(y0)
	get := func(x, y int) float64 { return t.noise[(y&(noiseSize-1))*noiseSize+(x&(noiseSize-1))] }
	a := get(ix, iy) + (get(ix+1, iy)-get(ix, iy))*tx
	b := get(ix, iy+1) + (get(ix+1, iy+1)-get(ix, iy+1))*tx
	return a + (b-a)*ty
}

// tri is a triangle wave with period 1 and range [0, 1].
func tri(x float64) float64 {
	f := x - math.Floor(x)
	return 1 - math.Abs(2*f-1)
}

// shade returns the textured-style colour of a shape's pixel: a material
// pattern fixed to the body, modulated by diffuse and specular lighting.
func (r *Renderer) shade(m Material, base rgb, p *pxShape, x, y, d, nx, ny, scale float64) rgb {
	// Local texture coordinates in world units.
	ox, oy := (x-p.ax)/scale, (y-p.ay)/scale
	u := ox*p.tcos + oy*p.tsin
	v := -ox*p.tsin + oy*p.tcos
	const cell = 0.04
	var pat float64
	switch m {
	case Self:
		pat = 0.82 + 0.18*tri(u/cell)
	case Effector:
		if (int(math.Floor(u/(cell*0.6)))+int(math.Floor(v/(cell*0.6))))&1 == 0 {
			pat = 1
		} else {
			pat = 0.78
		}
	case Target:
		pat = 0.75 + 0.25*tri(math.Sqrt(u*u+v*v)/(cell*0.5))
	case Decoration:
		pat = 0.85 + 0.15*tri((u+v)/cell)
	default:
		pat = 1
	}
	pat += 0.08 * r.tex.at(u*4, v*4)
	// Normal: (nx, -ny) is the in-plane part (pixel y points down).
	n0, n1 := nx, -ny
	s := n0*n0 + n1*n1
	if s > 1 {
		s = 1
	}
	n2 := math.Sqrt(1 - s)
	diff := n0*lightDir[0] + n1*lightDir[1] + n2*lightDir[2]
	if diff < 0 {
		diff = 0
	}
	spec := n0*halfDir[0] + n1*halfDir[1] + n2*halfDir[2]
	if spec < 0 {
		spec = 0
	}
	spec *= spec
	spec *= spec
	spec *= spec
	spec *= spec
	spec *= spec // ^32
	lit := 0.3 + 0.85*diff
	c := base.scale(pat * lit)
	return c.add(rgb{0.35, 0.35, 0.35}.scale(spec))
}

// background fills img with the scene's background in the renderer's style.
func (r *Renderer) background(img *image.RGBA, sc *Scene) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	xf := newTransform(sc.Camera, w, h)
	grid := sc.GridSize
	if grid <= 0 {
		grid = 0.25
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			p := xf.world(fx, fy)
			var c rgb
			switch sc.View {
			case TopDown:
				if r.style == Flat {
					c = flatSky
				} else {
					c = r.topDownFloor(p, sc, grid)
				}
			default:
				// Anti-aliased horizon: the fraction of the pixel below it.
				_, hy := xf.px(Vec{0, sc.FloorY})
				below := clamp01(fy + 0.5 - hy)
				if r.style == Flat {
					c = flatSky.mix(flatFloor, below)
				} else {
					sky := r.sky(p, fy/float64(h), sc)
					if below > 0 {
						c = sky.mix(r.sideFloor(p, sc, grid), below)
					} else {
						c = sky
					}
				}
			}
			i := img.PixOffset(x, y)
			img.Pix[i+0] = to8(c.r)
			img.Pix[i+1] = to8(c.g)
			img.Pix[i+2] = to8(c.b)
			img.Pix[i+3] = 255
		}
	}
}

// sky is a vertical gradient with soft clouds fixed in world coordinates.
func (r *Renderer) sky(p Vec, t float64, sc *Scene) rgb {
	c := texSkyTop.mix(texSkyBottom, clamp01(t))
	hh := sc.Camera.HalfHeight
	cloud := r.tex.smoothAt(p.X/(hh*1.5), p.Y/(hh*0.75))
	if cloud > 0.1 {
		c = c.mix(rgb{0.85, 0.9, 0.95}, 0.35*(cloud-0.1))
	}
	return c
}

// sideFloor is a checkered floor in a fake perspective: rows further below
// the horizon are nearer the camera and show larger cells.
func (r *Renderer) sideFloor(p Vec, sc *Scene, grid float64) rgb {
	hh := sc.Camera.HalfHeight
	dy := (sc.FloorY - p.Y) / hh // 0 at the horizon
	if dy < 0 {
		dy = 0
	}
	depth := 1 / (dy*4 + 0.15) // in grid cells from the camera
	u := (p.X - sc.Camera.Center.X) / grid * depth * (grid / hh) * 2
	v := depth * 2
	c := checker(u, v)
	fog := clamp01(1 - dy*6)
	return c.mix(texSkyBottom, 0.6*fog)
}

// topDownFloor is dm_control's grid floor seen from above, lit by a light
// over the centre.
func (r *Renderer) topDownFloor(p Vec, sc *Scene, grid float64) rgb {
	c := checker(p.X/grid, p.Y/grid)
	d := p.Sub(sc.Camera.Center).Len() / sc.Camera.HalfHeight
	light := 1.25 - 0.45*d*d
	c = c.scale(light + 0.06*r.tex.smoothAt(p.X/grid/4, p.Y/grid/4))
	return c
}

// checker is dm_control's grid texture: two blue-greys with lighter edges.
func checker(u, v float64) rgb {
	iu, iv := math.Floor(u), math.Floor(v)
	fu, fv := u-iu, v-iv
	var c rgb
	if (int(iu)+int(iv))&1 == 0 {
		c = gridDark
	} else {
		c = gridLight
	}
	const mark = 0.04
	if fu < mark || fu > 1-mark || fv < mark || fv > 1-mark {
		c = c.mix(gridMark, 0.7)
	}
	return c
}
