package render

import (
	"image"
	"math"
	"testing"
)

func TestParseStyle(t *testing.T) {
	tests := []struct {
		in      string
		want    Style
		wantErr bool
	}{{"flat", Flat, false}, {"Textured", Textured, false}, {" flat ", Flat, false}, {"shiny", Flat, true}}
	for _, tc := range tests {
		got, err := ParseStyle(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ParseStyle(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil && got.String() != tc.want.String() {
			t.Errorf("String() = %q", got.String())
		}
	}
}

// coverage returns the summed opacity a shape adds over a white
// background, in pixels.
func coverage(t *testing.T, s Shape, w, h int) float64 {
	t.Helper()
	sc := &Scene{Camera: Camera{Center: Vec{0, 0}, HalfHeight: 1}, View: TopDown}
	r := New(Flat)
	bg := r.Image(sc, w, h)
	sc.Shapes = []Shape{s}
	img := r.Image(sc, w, h)
	c := r.materialColor(s.Mat)
	sum := 0.0
	for i := 0; i < len(img.Pix); i += 4 {
		// per pixel opacity from the red channel
		b, v := float64(bg.Pix[i])/255, float64(img.Pix[i])/255
		if b != c.r {
			sum += (b - v) / (b - c.r)
		}
	}
	return sum
}

func TestAntiAliasedAreas(t *testing.T) {
	const w = 100 // 50 pixels per world unit
	tests := []struct {
		name string
		s    Shape
		area float64 // world units²
	}{
		{"circle", CircleAt(Vec{0.013, -0.021}, 0.3, 0, Target), math.Pi * 0.09},
		{"capsule", CapsuleFromTo(Vec{-0.5, 0.1}, Vec{0.4, -0.2}, 0.1, Target), 2*0.1*math.Hypot(0.9, 0.3) + math.Pi*0.01},
		{"rotated box", BoxAt(Vec{0.1, 0}, 0.4, 0.2, 0.7, Target), 0.8 * 0.4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := coverage(t, tc.s, w, w) / (50 * 50)
			if math.Abs(got-tc.area)/tc.area > 0.01 {
				t.Errorf("covered area %v, want %v within 1%%", got, tc.area)
			}
		})
	}
}

func TestDrawIntoSubImage(t *testing.T) {
	sc := &Scene{Camera: Camera{Center: Vec{0, 0.5}, HalfHeight: 1}, View: SideView, FloorY: 0,
		Shapes: []Shape{CapsuleFromTo(Vec{-0.5, 0}, Vec{0.5, 1}, 0.1, Self)}}
	for _, st := range Styles() {
		r := New(st)
		want := r.Image(sc, 30, 20)
		big := image.NewRGBA(image.Rect(0, 0, 50, 40))
		sub := big.SubImage(image.Rect(7, 9, 37, 29)).(*image.RGBA)
		r.Draw(sub, sc)
		for y := 0; y < 20; y++ {
			for x := 0; x < 30; x++ {
				if want.RGBAAt(x, y) != big.RGBAAt(7+x, 9+y) {
					t.Fatalf("%v: pixel (%d,%d) differs in a sub-image", st, x, y)
				}
			}
		}
	}
}

func TestThinShapesStayVisible(t *testing.T) {
	// A string 0.1 px wide is drawn with reduced opacity, not dropped.
	got := coverage(t, CapsuleFromTo(Vec{-0.5, 0}, Vec{0.5, 0}, 0.001, String), 100, 100)
	if got < 1 || got > 15 {
		t.Errorf("thin line coverage %v pixels, want a faint line", got)
	}
}
