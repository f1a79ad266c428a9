package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// fonts holds the faces one picture is drawn with. Faces cache glyphs,
// so each picture makes its own and they are not shared.
type fonts struct {
	tick, label, title font.Face
}

// newFonts makes faces scaled for a picture: sizes in pixels.
func newFonts(tick, label, title float64) (*fonts, error) {
	regular, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("plot: parse Go Regular font: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("plot: parse Go Bold font: %w", err)
	}
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	var fs fonts
	if fs.tick, err = face(regular, tick); err != nil {
		return nil, fmt.Errorf("plot: font: %w", err)
	}
	if fs.label, err = face(regular, label); err != nil {
		return nil, fmt.Errorf("plot: font: %w", err)
	}
	if fs.title, err = face(bold, title); err != nil {
		return nil, fmt.Errorf("plot: font: %w", err)
	}
	return &fs, nil
}

// textWidth returns the advance of s in face, in pixels.
func textWidth(face font.Face, s string) int {
	return font.MeasureString(face, s).Ceil()
}

// textHeight returns the ascent plus descent of face, in pixels.
func textHeight(face font.Face) int {
	m := face.Metrics()
	return (m.Ascent + m.Descent).Ceil()
}

// anchor says where a point sits on a text's box, as fractions of its
// width and height: (0, 0) is the top left, (0.5, 1) the bottom middle.
type anchor struct{ x, y float64 }

// drawText draws s in face and color c so that the anchor point of its
// box lands on p.
func drawText(dst draw.Image, face font.Face, c color.Color, p image.Point, a anchor, s string) {
	w, h := textWidth(face, s), textHeight(face)
	x := p.X - int(a.x*float64(w)+0.5)
	top := p.Y - int(a.y*float64(h)+0.5)
	d := font.Drawer{
		Dst:  dst,
		Src:  image.NewUniform(c),
		Face: face,
		Dot:  fixed.P(x, top+face.Metrics().Ascent.Ceil()),
	}
	d.DrawString(s)
}

// drawTextUp draws s turned 90° counter-clockwise (read bottom to top),
// centred on p, as for a y-axis label.
func drawTextUp(dst draw.Image, face font.Face, c color.Color, p image.Point, s string) {
	w, h := textWidth(face, s), textHeight(face)
	if w == 0 || h == 0 {
		return
	}
	flat := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: flat, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Metrics().Ascent.Ceil())}
	d.DrawString(s)
	// Turn it: the flat pixel (x, y) goes to (y, w-1-x).
	up := image.NewAlpha(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			up.Pix[(w-1-x)*up.Stride+y] = flat.Pix[y*flat.Stride+x]
		}
	}
	r := image.Rect(p.X-h/2, p.Y-w/2, p.X-h/2+h, p.Y-w/2+w)
	draw.DrawMask(dst, r, image.NewUniform(c), image.Point{}, up, image.Point{}, draw.Over)
}
