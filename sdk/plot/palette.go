package plot

import "image/color"

// Palette returns the colors given to series in order, the ten of the
// Tableau palette (matplotlib's default), which stay distinct for most
// forms of color blindness.
func Palette() []color.RGBA {
	return []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, // blue
		{0xff, 0x7f, 0x0e, 0xff}, // orange
		{0x2c, 0xa0, 0x2c, 0xff}, // green
		{0xd6, 0x27, 0x28, 0xff}, // red
		{0x94, 0x67, 0xbd, 0xff}, // purple
		{0x8c, 0x56, 0x4b, 0xff}, // brown
		{0xe3, 0x77, 0xc2, 0xff}, // pink
		{0x7f, 0x7f, 0x7f, 0xff}, // gray
		{0xbc, 0xbd, 0x22, 0xff}, // olive
		{0x17, 0xbe, 0xcf, 0xff}, // cyan
	}
}

// tint mixes c with white: f = 0 gives c, f = 1 gives white. Lighter
// opaque colors (not transparency) keep overlapping strokes even.
func tint(c color.RGBA, f float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(float64(v) + f*(255-float64(v)) + 0.5) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff}
}
