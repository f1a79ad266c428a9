package augment

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Jitter ops, in torchvision's numbering.
const (
	opBrightness = iota
	opContrast
	opSaturation
	opHue
)

// apply makes the view name of the images x01 (float32 in [0, 1]) with
// random draws from g. Every tensor it makes is freed except the view's.
func (r *Recipe) apply(name string, x01 *ts.Tensor, in imageShape, g *rng, dev gotch.Device) View {
	a := newArena(dev)
	defer a.close()
	n := in.n
	oh, ow := r.outHW(in)

	// Geometry: one box per image, then flips.
	boxes := r.sampleBoxes(g, in, oh, ow)
	flip := make([]bool, n)
	var flipped []int64
	for i := range flip {
		if flip[i] = g.coin(r.Flip); flip[i] {
			flipped = append(flipped, int64(i))
		}
	}
	x := x01
	if r.Crop == nil && oh == in.h && ow == in.w {
		x = a.subset(x, n, flipped, func(sub *ts.Tensor, _ []int64) *ts.Tensor {
			return a.t(sub.MustFlip([]int64{3}, false))
		})
	} else {
		x = a.resample(x, in, boxes, flip, oh, ow)
	}
	boxVals := make([]float32, 4*n)
	for i, b := range boxes {
		x0, x1 := float32(b.j), float32(b.j+b.w)
		if flip[i] {
			x0, x1 = x1, x0
		}
		copy(boxVals[4*i:], []float32{x0, float32(b.i), x1, float32(b.i + b.h)})
	}

	// Colour.
	if j := r.Jitter; j != nil {
		x = a.jitter(x, g, j, n, in.c)
	}
	if in.c == 3 && r.Grayscale > 0 {
		x = a.subset(x, n, g.coins(n, r.Grayscale), func(sub *ts.Tensor, _ []int64) *ts.Tensor {
			return a.grayscale(sub)
		})
	}
	if b := r.Blur; b != nil {
		idx := g.coins(n, b.P)
		sigmas := make([]float64, len(idx))
		s := b.sigma()
		for k := range sigmas {
			sigmas[k] = g.uniform(s[0], s[1])
		}
		ksize := b.kernel(oh)
		x = a.subset(x, n, idx, func(sub *ts.Tensor, _ []int64) *ts.Tensor {
			return a.blur(sub, sigmas, ksize)
		})
	}
	if s := r.Solarize; s != nil {
		thr := s.threshold()
		x = a.subset(x, n, g.coins(n, s.P), func(sub *ts.Tensor, _ []int64) *ts.Tensor {
			return a.solarize(sub, thr)
		})
	}

	labels := map[string]*ts.Tensor{}
	if r.Rotate {
		turns := make([]int64, n)
		var byTurn [4][]int64
		for i := range turns {
			if r.Turns > 0 {
				turns[i] = int64(r.Turns - 1)
			} else {
				turns[i] = int64(g.intn(4))
			}
			byTurn[turns[i]] = append(byTurn[turns[i]], int64(i))
		}
		for k := int64(1); k < 4; k++ {
			x = a.subset(x, n, byTurn[k], func(sub *ts.Tensor, _ []int64) *ts.Tensor {
				return a.t(sub.MustRot90(k, []int64{2, 3}, false))
			})
		}
		labels["rotation"] = a.keep(a.i64(turns, int64(n)))
	}

	if nm := r.Normalize; nm != nil {
		x = a.normalize(x, nm)
	}
	var out *ts.Tensor
	if x == x01 {
		out = x.MustToDtype(gotch.Float, false, true, false) // a copy: never alias the input
	} else {
		out = x.MustContiguous(false)
	}
	return View{
		Name:   name,
		Images: out,
		Boxes:  a.keep(a.f32(boxVals, int64(n), 4)),
		Labels: labels,
	}
}

// box is a crop: top row i, left column j, height h, width w, in pixels.
type box struct{ i, j, h, w int }

// sampleBoxes draws one crop box per image.
func (r *Recipe) sampleBoxes(g *rng, in imageShape, oh, ow int) []box {
	boxes := make([]box, in.n)
	c := r.Crop
	for k := range boxes {
		switch {
		case c == nil:
			boxes[k] = box{0, 0, in.h, in.w}
		case c.Fixed:
			boxes[k] = box{g.intn(in.h - oh + 1), g.intn(in.w - ow + 1), oh, ow}
		default:
			boxes[k] = resizedCropBox(g, in.h, in.w, c.scale(), c.ratio())
		}
	}
	return boxes
}

// resizedCropBox draws a box as torchvision's RandomResizedCrop does: up to
// 10 tries of an area fraction uniform in scale and an aspect ratio
// log-uniform in ratio, rounded half to even; the first that fits wins,
// at a uniform position. Otherwise the largest centred box whose ratio
// is within range.
func resizedCropBox(g *rng, hgt, wid int, scale, ratio [2]float64) box {
	area := float64(hgt * wid)
	lo, hi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * g.uniform(scale[0], scale[1])
		ar := math.Exp(g.uniform(lo, hi))
		w := roundHalfEven(math.Sqrt(target * ar))
		h := roundHalfEven(math.Sqrt(target / ar))
		if w > 0 && w <= wid && h > 0 && h <= hgt {
			return box{g.intn(hgt - h + 1), g.intn(wid - w + 1), h, w}
		}
	}
	w, h := wid, hgt
	switch inRatio := float64(wid) / float64(hgt); {
	case inRatio < ratio[0]:
		h = roundHalfEven(float64(w) / ratio[0])
	case inRatio > ratio[1]:
		w = roundHalfEven(float64(h) * ratio[1])
	}
	return box{(hgt - h) / 2, (wid - w) / 2, h, w}
}

// sourceCoords returns, for each of out output pixels along one axis, the
// normalised grid coordinate (align_corners=false) in an input of length
// size of the bilinear sample that resizes the span [start, start+length)
// to out pixels, as torch's interpolate does: pixel centres mapped, and
// samples clamped to the span's first and last pixels. reverse mirrors
// the output (a flip).
func sourceCoords(dst []float32, start, length, size, out int, reverse bool) {
	step := float64(length) / float64(out)
	for u := range out {
		src := (float64(u)+0.5)*step - 0.5
		src = min(max(src, 0), float64(length-1)) + float64(start)
		k := u
		if reverse {
			k = out - 1 - u
		}
		dst[k] = float32((2*src+1)/float64(size) - 1)
	}
}

// resample crops each image of x to its box, flips the flipped ones and
// resizes to oh×ow in one bilinear grid_sample; the grid is separable, so
// it is built from per-image row and column coordinates.
func (a *arena) resample(x *ts.Tensor, in imageShape, boxes []box, flip []bool, oh, ow int) *ts.Tensor {
	n := int64(in.n)
	gx := make([]float32, in.n*ow)
	gy := make([]float32, in.n*oh)
	for k, b := range boxes {
		sourceCoords(gx[k*ow:(k+1)*ow], b.j, b.w, in.w, ow, flip[k])
		sourceCoords(gy[k*oh:(k+1)*oh], b.i, b.h, in.h, oh, false)
	}
	size := []int64{n, int64(oh), int64(ow), 1}
	cols := a.t(a.f32(gx, n, 1, int64(ow), 1).MustExpand(size, true, false))
	rows := a.t(a.f32(gy, n, int64(oh), 1, 1).MustExpand(size, true, false))
	grid := a.t(ts.MustCat([]*ts.Tensor{cols, rows}, 3))
	const bilinear, border = 0, 1
	return a.t(ts.MustGridSampler2d(x, grid, bilinear, border, false))
}

// jitter applies colour jitter j to each image with probability j.P, the
// active ops in a random order per image. At each step of the order every
// image takes one op; brightness, contrast and saturation are all of the
// form clamp(a*x + b*gray(x) + c*mean(gray(x)), 0, 1) with per-image
// coefficients (a=1, b=c=0 for images that take none of them), so one step
// is one pass over the batch; hue, which goes through HSV, runs on the
// images that take it.
func (a *arena) jitter(x *ts.Tensor, g *rng, j *Jitter, n, channels int) *ts.Tensor {
	var ops []int
	if j.Brightness > 0 {
		ops = append(ops, opBrightness)
	}
	if j.Contrast > 0 {
		ops = append(ops, opContrast)
	}
	if channels == 3 && j.Saturation > 0 {
		ops = append(ops, opSaturation)
	}
	if channels == 3 && j.Hue > 0 {
		ops = append(ops, opHue)
	}
	if len(ops) == 0 {
		return x
	}
	var factor [4][]float64
	for o := range factor {
		factor[o] = make([]float64, n)
	}
	order := make([][]int, n)
	for i := range n {
		if !g.coin(j.P) {
			continue
		}
		perm := append([]int(nil), ops...)
		for k := len(perm) - 1; k > 0; k-- {
			m := g.intn(k + 1)
			perm[k], perm[m] = perm[m], perm[k]
		}
		order[i] = perm
		for _, o := range ops {
			switch o {
			case opBrightness:
				factor[o][i] = g.uniform(max(0, 1-j.Brightness), 1+j.Brightness)
			case opContrast:
				factor[o][i] = g.uniform(max(0, 1-j.Contrast), 1+j.Contrast)
			case opSaturation:
				factor[o][i] = g.uniform(max(0, 1-j.Saturation), 1+j.Saturation)
			case opHue:
				factor[o][i] = g.uniform(-j.Hue, j.Hue)
			}
		}
	}
	for step := range ops {
		coef := blendCoefs{a: make([]float64, n), b: make([]float64, n), c: make([]float64, n)}
		var hue []int64
		for i, perm := range order {
			coef.a[i] = 1
			if perm == nil {
				continue
			}
			switch o := perm[step]; o {
			case opBrightness:
				coef.a[i] = factor[o][i]
				coef.any = true
			case opContrast:
				coef.a[i], coef.c[i] = factor[o][i], 1-factor[o][i]
				coef.any, coef.mean = true, true
			case opSaturation:
				coef.a[i], coef.b[i] = factor[o][i], 1-factor[o][i]
				coef.any, coef.gray = true, true
			case opHue:
				hue = append(hue, int64(i))
			}
		}
		if coef.any {
			x = a.colourBlend(x, coef)
		}
		x = a.subset(x, n, hue, func(sub *ts.Tensor, idx []int64) *ts.Tensor {
			return a.hue(sub, a.perSample(factor[opHue], idx))
		})
	}
	return x
}
