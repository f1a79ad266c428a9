package plot

import (
	"fmt"
	"image"
	"image/color"
)

// Images is a batch of N images of C×H×W uint8 pixels, channels-first
// (the layout of data.Dataset and of image tensors), C being 1 (gray) or
// 3 (RGB).
type Images struct {
	Pixels     []uint8
	N, C, H, W int
}

// GridOptions says how Grid lays images out. The zero value picks a
// near-square grid, 2 pixels of white padding, and enough enlargement
// that small images are easy to see.
type GridOptions struct {
	// Cols is the number of images per row; zero picks ceil(sqrt(N)).
	// Rows follow: image i sits at row i/Cols, column i%Cols.
	Cols int
	// Pad is the space between images and around the grid, in pixels
	// of the output; zero means 2, negative means none.
	Pad int
	// Scale enlarges each image by an integer factor, pixels kept sharp;
	// zero picks one that makes images at least 48 pixels on a side.
	Scale int
	// Background fills the padding; nil means white.
	Background color.Color
	// RowLabels, when given, are written left of the rows, one per row
	// ("original", "view 1", ...).
	RowLabels []string
}

// Grid tiles the images into one picture, for example the augmented
// views of a few images, one row per image.
func Grid(imgs Images, opts GridOptions) (*image.RGBA, error) {
	if imgs.N <= 0 || imgs.H <= 0 || imgs.W <= 0 {
		return nil, fmt.Errorf("plot: grid of %d images of %d×%d; give at least one non-empty image", imgs.N, imgs.H, imgs.W)
	}
	if imgs.C != 1 && imgs.C != 3 {
		return nil, fmt.Errorf("plot: grid of %d-channel images; use 1 (gray) or 3 (RGB) channels", imgs.C)
	}
	size := imgs.C * imgs.H * imgs.W
	if len(imgs.Pixels) != imgs.N*size {
		return nil, fmt.Errorf("plot: grid: %d pixel bytes for %d images of %d×%d×%d (want %d)", len(imgs.Pixels), imgs.N, imgs.C, imgs.H, imgs.W, imgs.N*size)
	}
	cols := opts.Cols
	if cols <= 0 {
		cols = 1
		for cols*cols < imgs.N {
			cols++
		}
	}
	cols = min(cols, imgs.N)
	rows := (imgs.N + cols - 1) / cols
	pad := opts.Pad
	switch {
	case pad == 0:
		pad = 2
	case pad < 0:
		pad = 0
	}
	scale := opts.Scale
	if scale <= 0 {
		side := max(imgs.H, imgs.W)
		scale = max(1, (48+side-1)/side)
	}
	var bg color.Color = color.White
	if opts.Background != nil {
		bg = opts.Background
	}

	cellW, cellH := imgs.W*scale, imgs.H*scale
	var fs *fonts
	labelW := 0
	if len(opts.RowLabels) > 0 {
		var err error
		if fs, err = newFonts(13, 13, 13); err != nil {
			return nil, err
		}
		for _, l := range opts.RowLabels {
			labelW = max(labelW, textWidth(fs.tick, l))
		}
		labelW += 2 * max(pad, 4)
	}
	out := image.NewRGBA(image.Rect(0, 0, labelW+pad+cols*(cellW+pad), pad+rows*(cellH+pad)))
	fillRect(out, out.Bounds(), bg)
	for i := range imgs.N {
		x0 := labelW + pad + (i%cols)*(cellW+pad)
		y0 := pad + (i/cols)*(cellH+pad)
		blit(out, x0, y0, imgs.Pixels[i*size:(i+1)*size], imgs.C, imgs.H, imgs.W, scale)
	}
	for r, l := range opts.RowLabels {
		if r >= rows {
			break
		}
		y := pad + r*(cellH+pad) + cellH/2
		drawText(out, fs.tick, labelColor(bg), image.Pt(labelW-max(pad, 4), y), anchor{1, 0.5}, l)
	}
	return out, nil
}

// blit draws one C×H×W image at (x0, y0), each pixel as a scale×scale
// square.
func blit(dst *image.RGBA, x0, y0 int, pix []uint8, c, h, w, scale int) {
	plane := h * w
	for y := range h {
		for x := range w {
			o := y*w + x
			r := pix[o]
			g, b := r, r
			if c == 3 {
				g, b = pix[plane+o], pix[2*plane+o]
			}
			for dy := range scale {
				row := (y0+y*scale+dy-dst.Rect.Min.Y)*dst.Stride + (x0+x*scale-dst.Rect.Min.X)*4
				for dx := range scale {
					p := dst.Pix[row+4*dx : row+4*dx+4 : row+4*dx+4]
					p[0], p[1], p[2], p[3] = r, g, b, 0xff
				}
			}
		}
	}
}

// labelColor returns black or white, whichever reads better on bg.
func labelColor(bg color.Color) color.Color {
	r, g, b, _ := bg.RGBA()
	if 299*r+587*g+114*b > 1000*0x8000 {
		return rgb(colText)
	}
	return color.White
}
