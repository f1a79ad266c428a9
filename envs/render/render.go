// Package render is the pure Go software renderer of the pixel RL
// environments: it turns a 2D scene of circles, capsules and boxes into an
// anti-aliased RGB image at any size, in one of two visual styles.
//
// Rendering needs no OpenGL and no display, so training binaries stay
// headless (and build with CGO_ENABLED=0). Pixels are deterministic: the
// same scene at the same size and style gives the same bytes on the same
// architecture.
//
// Anti-aliasing uses signed distances: every shape has an exact distance
// function, and a pixel's coverage is clamp(0.5 - d, 0, 1) with d the signed
// distance of the pixel centre to the shape's edge in pixels, a close
// approximation of box-filtered area coverage for edges that are straight at
// the scale of a pixel.
package render

import (
	"fmt"
	"image"
	"math"
	"strings"
)

// Style selects how a scene looks. Both styles draw the same geometry from
// the same camera, so one state rendered in both is a paired ground truth
// (used to evaluate unpaired image translation honestly).
type Style uint8

const (
	// Flat draws plain material colours on a plain background.
	Flat Style = iota
	// Textured draws shaded, textured bodies lit by a fixed light in front
	// of a patterned sky and a checkered floor, close to dm_control's look.
	Textured
)

// Styles lists every style, in order.
func Styles() []Style { return []Style{Flat, Textured} }

// String returns the style's name ("flat" or "textured").
func (s Style) String() string {
	switch s {
	case Flat:
		return "flat"
	case Textured:
		return "textured"
	}
	return fmt.Sprintf("Style(%d)", uint8(s))
}

// ParseStyle returns the style with the given name ("flat" or "textured").
func ParseStyle(name string) (Style, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "flat":
		return Flat, nil
	case "textured":
		return Textured, nil
	}
	return Flat, fmt.Errorf("render: unknown style %q: use flat or textured", name)
}

// Vec is a point or direction in world coordinates (metres, y up).
type Vec struct{ X, Y float64 }

// Add returns v+w.
func (v Vec) Add(w Vec) Vec { return Vec{v.X + w.X, v.Y + w.Y} }

// Sub returns v-w.
func (v Vec) Sub(w Vec) Vec { return Vec{v.X - w.X, v.Y - w.Y} }

// Scale returns s*v.
func (v Vec) Scale(s float64) Vec { return Vec{v.X * s, v.Y * s} }

// Dot returns the dot product of v and w.
func (v Vec) Dot(w Vec) float64 { return v.X*w.X + v.Y*w.Y }

// Len returns the Euclidean length of v.
func (v Vec) Len() float64 { return math.Sqrt(v.X*v.X + v.Y*v.Y) }

// Camera is a fixed orthographic camera: it looks at Center and shows
// HalfHeight world units above and below it; the horizontal extent follows
// from the image's aspect ratio.
type Camera struct {
	Center     Vec
	HalfHeight float64
}

// Material names what a shape is made of; each style maps it to a look.
// The names and flat colours follow dm_control's common materials.
type Material uint8

const (
	// Self is the agent's own body (dm_control "self").
	Self Material = iota
	// Effector is the part that must reach something ("effector").
	Effector
	// Target is the goal ("target").
	Target
	// Decoration is scenery such as rails and walls ("decoration").
	Decoration
	// String is a thin tendon or rope.
	String
	// Pivot is a joint axle or mount.
	Pivot
	numMaterials
)

// Kind is the geometric primitive of a Shape.
type Kind uint8

const (
	// Circle is a disc of radius R centred at A.
	Circle Kind = iota
	// Capsule is the set of points within R of the segment A-B.
	Capsule
	// Box is a rectangle centred at A with half extents B.X, B.Y, rotated
	// by Angle, with corners rounded by R.
	Box
)

// Shape is one primitive to draw.
type Shape struct {
	Kind Kind
	Mat  Material
	A, B Vec
	R    float64
	// Angle rotates a Box; for every kind it also orients the texture, so
	// textures turn with the body that carries them.
	Angle float64
	// Alpha scales the shape's opacity; 0 means opaque.
	Alpha float64
}

// CircleAt returns a disc of radius r at c, with its texture rotated by angle.
func CircleAt(c Vec, r, angle float64, m Material) Shape {
	return Shape{Kind: Circle, Mat: m, A: c, R: r, Angle: angle}
}

// CapsuleFromTo returns the capsule of radius r around the segment a-b.
func CapsuleFromTo(a, b Vec, r float64, m Material) Shape {
	d := b.Sub(a)
	return Shape{Kind: Capsule, Mat: m, A: a, B: b, R: r, Angle: math.Atan2(d.Y, d.X)}
}

// BoxAt returns a rectangle centred at c with half extents hx, hy rotated
// by angle.
func BoxAt(c Vec, hx, hy, angle float64, m Material) Shape {
	return Shape{Kind: Box, Mat: m, A: c, B: Vec{hx, hy}, Angle: angle}
}

// View is how the background is laid out.
type View uint8

const (
	// SideView looks horizontally: sky above FloorY, floor below it.
	SideView View = iota
	// TopDown looks down on a floor that fills the image.
	TopDown
)

// Scene is everything a frame shows.
type Scene struct {
	Camera Camera
	View   View
	// FloorY is the height of the floor's surface in a SideView.
	FloorY float64
	// GridSize is the side of one floor checker cell in world units.
	GridSize float64
	// Static shapes never move: they are drawn once per image size into a
	// cached background. A scene must not change them after its first draw.
	Static []Shape
	// Shapes are drawn every frame, in order, over the background.
	Shapes []Shape
}

// Renderer draws scenes in one style. It caches the static background per
// image size, so one Renderer should serve one scene layout (one
// environment). A Renderer is not safe for concurrent use.
type Renderer struct {
	style Style
	bg    map[image.Point]*image.RGBA
	tex   *textures
}

// New returns a renderer for the given style.
func New(s Style) *Renderer {
	r := &Renderer{style: s, bg: make(map[image.Point]*image.RGBA)}
	if s == Textured {
		r.tex = newTextures()
	}
	return r
}

// Style returns the renderer's style.
func (r *Renderer) Style() Style { return r.style }

// Draw renders sc into dst, covering all of dst's bounds.
func (r *Renderer) Draw(dst *image.RGBA, sc *Scene) {
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return
	}
	key := image.Point{w, h}
	bg, ok := r.bg[key]
	if !ok {
		bg = image.NewRGBA(image.Rect(0, 0, w, h))
		r.background(bg, sc)
		xf := newTransform(sc.Camera, w, h)
		for i := range sc.Static {
			r.drawShape(bg, xf, &sc.Static[i])
		}
		if len(r.bg) >= 8 { // bound memory if a caller cycles through sizes
			clear(r.bg)
		}
		r.bg[key] = bg
	}
	if dst.Stride == bg.Stride && b.Min == (image.Point{}) {
		copy(dst.Pix, bg.Pix)
	} else {
		for y := 0; y < h; y++ {
			copy(dst.Pix[dst.PixOffset(b.Min.X, b.Min.Y+y):][:4*w], bg.Pix[y*bg.Stride:][:4*w])
		}
	}
	xf := newTransform(sc.Camera, w, h)
	xf.origin = b.Min
	for i := range sc.Shapes {
		r.drawShape(dst, xf, &sc.Shapes[i])
	}
}

// Image renders sc into a new w x h image.
func (r *Renderer) Image(sc *Scene, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r.Draw(img, sc)
	return img
}

// transform maps world coordinates to pixel coordinates (y down).
type transform struct {
	scale  float64 // pixels per world unit
	cx, cy float64 // pixel position of the camera centre
	center Vec
	origin image.Point
	w, h   int
}

func newTransform(c Camera, w, h int) transform {
	hh := c.HalfHeight
	if hh <= 0 {
		hh = 1
	}
	return transform{
		scale:  float64(h) / (2 * hh),
		cx:     float64(w) / 2,
		cy:     float64(h) / 2,
		center: c.Center,
		w:      w, h: h,
	}
}

func (t transform) px(v Vec) (float64, float64) {
	return (v.X-t.center.X)*t.scale + t.cx, t.cy - (v.Y-t.center.Y)*t.scale
}

// world returns the world point at pixel coordinates (x, y).
func (t transform) world(x, y float64) Vec {
	return Vec{(x-t.cx)/t.scale + t.center.X, (t.cy-y)/t.scale + t.center.Y}
}
