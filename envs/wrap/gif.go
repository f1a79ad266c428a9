package wrap

import (
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"slices"
)

// transparent is the palette index that marks pixels unchanged since the
// previous frame.
const transparent = 255

// WriteGIF encodes frames as an animated GIF that loops forever, each frame
// shown for delay hundredths of a second (at least 2: browsers slow faster
// GIFs down). It builds one palette of up to 255 colours for the whole
// animation by median cut, and stores each frame after the first as the
// rectangle that changed, with unchanged pixels transparent, which keeps
// GIFs of a static background small.
func WriteGIF(w io.Writer, frames []*image.RGBA, delay int) error {
	if len(frames) == 0 {
		return fmt.Errorf("wrap: GIF with no frames: record at least one step")
	}
	delay = max(delay, 2)
	b := frames[0].Bounds()
	for i, f := range frames {
		if f.Bounds().Size() != b.Size() {
			return fmt.Errorf("wrap: GIF frame %d is %v, frame 0 is %v: all frames must have one size", i, f.Bounds().Size(), b.Size())
		}
	}
	pal := medianCut(frames, 255)
	q := newQuantizer(pal)
	full := make(color.Palette, 256)
	for i := range full {
		full[i] = color.RGBA{0, 0, 0, 255}
	}
	for i, c := range pal {
		full[i] = c
	}
	full[transparent] = color.RGBA{}

	wd, ht := b.Dx(), b.Dy()
	prev := make([]uint8, wd*ht)
	cur := make([]uint8, wd*ht)
	out := &gif.GIF{LoopCount: 0, Config: image.Config{ColorModel: full, Width: wd, Height: ht}}
	for fi, f := range frames {
		for y := 0; y < ht; y++ {
			row := f.Pix[f.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < wd; x++ {
				cur[y*wd+x] = q.index(row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		r := image.Rect(0, 0, wd, ht)
		if fi > 0 {
			r = changed(prev, cur, wd, ht)
			if r.Empty() { // nothing moved: show the previous frame longer
				out.Delay[len(out.Delay)-1] += delay
				continue
			}
		}
		img := image.NewPaletted(r, full)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				v := cur[y*wd+x]
				if fi > 0 && v == prev[y*wd+x] {
					v = transparent
				}
				img.Pix[img.PixOffset(x, y)] = v
			}
		}
		out.Image = append(out.Image, img)
		out.Delay = append(out.Delay, delay)
		out.Disposal = append(out.Disposal, gif.DisposalNone)
		prev, cur = cur, prev
	}
	if err := gif.EncodeAll(w, out); err != nil {
		return fmt.Errorf("wrap: encode GIF: %w", err)
	}
	return nil
}

// changed returns the bounding box of the pixels that differ.
func changed(a, b []uint8, w, h int) image.Rectangle {
	x0, y0, x1, y1 := w, h, 0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if a[y*w+x] != b[y*w+x] {
				x0, y0 = min(x0, x), min(y0, y)
				x1, y1 = max(x1, x+1), max(y1, y+1)
			}
		}
	}
	if x0 >= x1 {
		return image.Rectangle{}
	}
	return image.Rect(x0, y0, x1, y1)
}

// medianCut returns a palette of at most n colours for the frames' pixels.
func medianCut(frames []*image.RGBA, n int) []color.RGBA {
	// Sample at most ~256k pixels, evenly.
	total := 0
	for _, f := range frames {
		total += f.Bounds().Dx() * f.Bounds().Dy()
	}
	stride := max(total/(1<<18), 1)
	px := make([][3]uint8, 0, total/stride+1)
	k := 0
	for _, f := range frames {
		b := f.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := f.Pix[f.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				if k%stride == 0 {
					px = append(px, [3]uint8{row[4*x], row[4*x+1], row[4*x+2]})
				}
				k++
			}
		}
	}
	boxes := [][][3]uint8{px}
	for len(boxes) < n {
		// Split the box with the widest channel range (weighted by size).
		best, bestCh, bestScore := -1, 0, 0
		for i, bx := range boxes {
			if len(bx) < 2 {
				continue
			}
			ch, rng := widest(bx)
			if s := rng * len(bx); rng > 0 && s > bestScore {
				best, bestCh, bestScore = i, ch, s
			}
		}
		if best < 0 {
			break
		}
		bx := boxes[best]
		slices.SortFunc(bx, func(a, b [3]uint8) int { return int(a[bestCh]) - int(b[bestCh]) })
		m := len(bx) / 2
		// Keep equal values together so boxes have disjoint ranges.
		for m < len(bx) && m > 0 && bx[m][bestCh] == bx[m-1][bestCh] {
			m++
		}
		if m == len(bx) {
			m = len(bx) / 2
			for m > 0 && bx[m][bestCh] == bx[m-1][bestCh] {
				m--
			}
		}
		if m == 0 {
			break
		}
		boxes[best] = bx[:m]
		boxes = append(boxes, bx[m:])
	}
	pal := make([]color.RGBA, 0, len(boxes))
	for _, bx := range boxes {
		var s [3]int
		for _, p := range bx {
			s[0] += int(p[0])
			s[1] += int(p[1])
			s[2] += int(p[2])
		}
		l := max(len(bx), 1)
		pal = append(pal, color.RGBA{uint8((s[0] + l/2) / l), uint8((s[1] + l/2) / l), uint8((s[2] + l/2) / l), 255})
	}
	return pal
}

func widest(bx [][3]uint8) (ch, rng int) {
	lo, hi := [3]uint8{255, 255, 255}, [3]uint8{}
	for _, p := range bx {
		for c := range 3 {
			lo[c], hi[c] = min(lo[c], p[c]), max(hi[c], p[c])
		}
	}
	for c := range 3 {
		if r := int(hi[c]) - int(lo[c]); r > rng {
			ch, rng = c, r
		}
	}
	return ch, rng
}

// quantizer maps colours to their nearest palette entry, memoised.
type quantizer struct {
	pal   []color.RGBA
	exact map[[3]uint8]uint8
}

func newQuantizer(pal []color.RGBA) *quantizer {
	return &quantizer{pal: pal, exact: make(map[[3]uint8]uint8)}
}

func (q *quantizer) index(r, g, b uint8) uint8 {
	key := [3]uint8{r, g, b}
	if i, ok := q.exact[key]; ok {
		return i
	}
	best, bestD := 0, 1<<30
	for i, c := range q.pal {
		dr, dg, db := int(c.R)-int(r), int(c.G)-int(g), int(c.B)-int(b)
		if d := 2*dr*dr + 4*dg*dg + 3*db*db; d < bestD {
			best, bestD = i, d
		}
	}
	q.exact[key] = uint8(best)
	return uint8(best)
}
