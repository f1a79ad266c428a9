package augment

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// arena tracks the tensors one Augment call makes, on the device of its
// images, so that one Close frees them all. Inputs have been validated
// before any op runs, so the Must forms of gotch's ops cannot fail on them.
type arena struct {
	s   *tensor.Scope
	dev gotch.Device
}

func newArena(dev gotch.Device) *arena { return &arena{s: tensor.NewScope(), dev: dev} }

// t tracks x and returns it.
func (a *arena) t(x *ts.Tensor) *ts.Tensor { return a.s.T(x) }

// keep stops tracking x, which the caller then owns.
func (a *arena) keep(x *ts.Tensor) *ts.Tensor { return a.s.Detach(x) }

func (a *arena) close() { a.s.Close() }

// onDevice moves a CPU tensor made from Go values to the arena's device.
func (a *arena) onDevice(x *ts.Tensor) *ts.Tensor {
	if !a.dev.IsCuda() {
		return a.t(x)
	}
	a.t(x)
	return a.t(x.MustTo(a.dev, false))
}

// f32 makes a float32 tensor of shape from v.
func (a *arena) f32(v []float32, shape ...int64) *ts.Tensor {
	x, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		panic(err) // callers pass len(v) == numel(shape)
	}
	return a.onDevice(x)
}

// i64 makes an int64 tensor of shape from v.
func (a *arena) i64(v []int64, shape ...int64) *ts.Tensor {
	x, err := tensor.FromInt64(v, shape...)
	if err != nil {
		panic(err)
	}
	return a.onDevice(x)
}

// perSample makes a [len(idx), 1, 1, 1] tensor of v[idx[k]], to scale the
// images idx of a batch one factor each.
func (a *arena) perSample(v []float64, idx []int64) *ts.Tensor {
	out := make([]float32, len(idx))
	for k, i := range idx {
		out[k] = float32(v[i])
	}
	return a.f32(out, int64(len(idx)), 1, 1, 1)
}

func scalar(v float64) *ts.Scalar { return ts.FloatScalar(v) }

// subset applies fn to the images idx (sorted) of the n-image batch x and
// returns the batch with those images replaced; the others are untouched.
// fn gets the selected images and their indices and returns new images of
// the same shape.
func (a *arena) subset(x *ts.Tensor, n int, idx []int64, fn func(sub *ts.Tensor, idx []int64) *ts.Tensor) *ts.Tensor {
	switch len(idx) {
	case 0:
		return x
	case n:
		return fn(x, idx)
	}
	it := a.i64(idx, int64(len(idx)))
	sub := a.t(x.MustIndexSelect(0, it, false))
	y := fn(sub, idx)
	return a.t(x.MustIndexCopy(0, it, y, false))
}

// clamp01 returns x clamped to [0, 1].
//
// No op here works in place: gotch v0.9.1's in-place ops (the ones named
// with a trailing underscore) replace the tensor's C handle without freeing
// the old one, which leaks the tensor's memory.
func (a *arena) clamp01(x *ts.Tensor) *ts.Tensor {
	return a.t(x.MustClamp(scalar(0), scalar(1), false))
}

// gray returns the luma of x [n, C, H, W] as [n, 1, H, W]: x itself for one
// channel, 0.2989 R + 0.587 G + 0.114 B for three (torchvision's weights).
func (a *arena) gray(x *ts.Tensor) *ts.Tensor {
	if x.MustSize()[1] == 1 {
		return x
	}
	r := a.t(x.MustNarrow(1, 0, 1, false))
	g := a.t(x.MustNarrow(1, 1, 1, false))
	b := a.t(x.MustNarrow(1, 2, 1, false))
	y := a.t(r.MustMulScalar(scalar(0.2989), false))
	y = a.t(y.MustAdd(a.t(g.MustMulScalar(scalar(0.587), false)), false))
	return a.t(y.MustAdd(a.t(b.MustMulScalar(scalar(0.114), false)), false))
}

// blend returns clamp(f*x + (1-f)*y, 0, 1) with per-image factors f
// [n,1,1,1]; y broadcasts against x.
func (a *arena) blend(x, y, f *ts.Tensor) *ts.Tensor {
	fx := a.t(x.MustMul(f, false))
	oneMinus := a.t(f.MustRsubScalar(scalar(1), false))
	fy := a.t(y.MustMul(oneMinus, false))
	return a.clamp01(a.t(fx.MustAdd(fy, false)))
}

// blendCoefs are per-image coefficients of colourBlend.
type blendCoefs struct {
	a, b, c []float64
	any     bool // some image has a != 1, b != 0 or c != 0
	gray    bool // some image has b != 0
	mean    bool // some image has c != 0
}

// colourBlend returns clamp(a*x + b*gray(x) + c*mean(gray(x)), 0, 1) with
// per-image a, b, c: brightness is (f, 0, 0), contrast (f, 0, 1-f),
// saturation (f, 1-f, 0), as torchvision's blends; (1, 0, 0) leaves an
// image exactly as it is.
func (a *arena) colourBlend(x *ts.Tensor, k blendCoefs) *ts.Tensor {
	all := allIndices(len(k.a))
	y := a.t(x.MustMul(a.perSample(k.a, all), false))
	if k.gray {
		y = a.t(y.MustAdd(a.t(a.gray(x).MustMul(a.perSample(k.b, all), false)), false))
	}
	if k.mean {
		y = a.t(y.MustAdd(a.t(a.meanLuma(x).MustMul(a.perSample(k.c, all), false)), false))
	}
	return a.clamp01(y)
}

// meanLuma returns the mean luma of each image of x, [n,1,1,1], from the
// per-channel means.
func (a *arena) meanLuma(x *ts.Tensor) *ts.Tensor {
	m := a.t(x.MustMeanDim([]int64{2, 3}, true, gotch.Float, false)) // [n,C,1,1]
	if x.MustSize()[1] == 1 {
		return m
	}
	w := a.f32([]float32{0.2989, 0.587, 0.114}, 1, 3, 1, 1)
	return a.t(a.t(m.MustMul(w, false)).MustSumDimIntlist([]int64{1}, true, gotch.Float, false))
}

// allIndices returns 0..n-1.
func allIndices(n int) []int64 {
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	return idx
}

// brightness scales images by per-image factors f and clamps to [0, 1].
func (a *arena) brightness(x, f *ts.Tensor) *ts.Tensor {
	return a.clamp01(a.t(x.MustMul(f, false)))
}

// contrast blends images with the mean of their luma.
func (a *arena) contrast(x, f *ts.Tensor) *ts.Tensor {
	m := a.t(a.gray(x).MustMeanDim([]int64{1, 2, 3}, true, gotch.Float, false))
	return a.blend(x, m, f)
}

// saturation blends RGB images with their luma; 1-channel images are
// returned as they are.
func (a *arena) saturation(x, f *ts.Tensor) *ts.Tensor {
	if x.MustSize()[1] != 3 {
		return x
	}
	return a.blend(x, a.gray(x), f)
}

// hue rotates the hue of RGB images by per-image fractions h of the colour
// circle ([n,1,1,1]); 1-channel images are returned as they are.
func (a *arena) hue(x, h *ts.Tensor) *ts.Tensor {
	if x.MustSize()[1] != 3 {
		return x
	}
	hh, s, v := a.rgbToHSV(x)
	return a.hsvToRGB(a.frac(a.t(hh.MustAdd(h, false))), s, v)
}

// frac returns x - floor(x), in [0, 1).
func (a *arena) frac(x *ts.Tensor) *ts.Tensor {
	return a.t(x.MustSub(a.t(x.MustFloor(false)), false))
}

// rgbToHSV converts [n,3,H,W] RGB in [0,1] to hue in [0,1), saturation and
// value, each [n,1,H,W], as torchvision does. It uses arithmetic only:
// this libtorch's comparison, where and remainder kernels are 5 to 40
// times slower than its arithmetic ones.
func (a *arena) rgbToHSV(x *ts.Tensor) (h, s, v *ts.Tensor) {
	r := a.t(x.MustNarrow(1, 0, 1, false))
	g := a.t(x.MustNarrow(1, 1, 1, false))
	b := a.t(x.MustNarrow(1, 2, 1, false))
	v = a.t(x.MustAmax([]int64{1}, true, false))
	lo := a.t(x.MustAmin([]int64{1}, true, false))
	chroma := a.t(v.MustSub(lo, false))
	// Where max == min (gray), chroma is 0 and so are saturation and hue;
	// the clamped divisors only keep 0/0 out.
	const tiny = 1e-30
	s = a.t(chroma.MustDiv(a.t(v.MustClampMin(scalar(tiny), false)), false))
	div := a.t(chroma.MustClampMin(scalar(tiny), false))
	rc := a.t(a.t(v.MustSub(r, false)).MustDiv(div, false))
	gc := a.t(a.t(v.MustSub(g, false)).MustDiv(div, false))
	bc := a.t(a.t(v.MustSub(b, false)).MustDiv(div, false))
	// The hue's sextant is that of the largest channel, R before G before B
	// on ties: R: (g-b), G: 2 + (b-r), B: 4 + (r-g), in units of chroma.
	// sign(max - c) is 0 where channel c is the largest and 1 elsewhere.
	notR := a.t(a.t(v.MustSub(r, false)).MustSign(false))
	notG := a.t(a.t(v.MustSub(g, false)).MustSign(false))
	isR := a.t(notR.MustRsubScalar(scalar(1), false))
	isG := a.t(a.t(notG.MustRsubScalar(scalar(1), false)).MustMul(notR, false))
	isB := a.t(notG.MustMul(notR, false))
	hr := a.t(a.t(bc.MustSub(gc, false)).MustMul(isR, false))
	hg := a.t(a.t(a.t(rc.MustSub(bc, false)).MustAddScalar(scalar(2), false)).MustMul(isG, false))
	hb := a.t(a.t(a.t(gc.MustSub(rc, false)).MustAddScalar(scalar(4), false)).MustMul(isB, false))
	h = a.t(a.t(hr.MustAdd(hg, false)).MustAdd(hb, false))
	h = a.frac(a.t(h.MustDivScalar(scalar(6), false)))
	return h, s, v
}

// hsvToRGB converts hue, saturation and value [n,1,H,W] back to RGB
// [n,3,H,W]: channel c is v - v*s*clamp(min(k, 4-k), 0, 1) with
// k = (n_c + 6h) mod 6 and n_c = 5, 3, 1 for R, G, B (the sextant formula
// torchvision uses, written without branches).
func (a *arena) hsvToRGB(h, s, v *ts.Tensor) *ts.Tensor {
	offs := a.f32([]float32{5.0 / 6, 3.0 / 6, 1.0 / 6}, 1, 3, 1, 1)
	k := a.frac(a.t(h.MustAdd(offs, false))) // [n,3,H,W], (n_c/6 + h) mod 1
	k = a.t(k.MustMulScalar(scalar(6), false))
	k2 := a.t(k.MustRsubScalar(scalar(4), false))
	m := a.clamp01(a.t(k.MustMinimum(k2, false)))
	m = a.t(m.MustMul(a.t(v.MustMul(s, false)), false))
	return a.clamp01(a.t(v.MustSub(m, false)))
}

// grayscale replaces RGB images by their luma in all three channels.
func (a *arena) grayscale(x *ts.Tensor) *ts.Tensor {
	sz := x.MustSize()
	if sz[1] != 3 {
		return x
	}
	return a.t(a.gray(x).MustExpand(sz, true, false))
}

// solarize inverts (x -> 1-x) the pixels at or above thr, in (0, 1]:
// x + m(1-2x) with m = floor(x - thr + 1), which is 1 where x >= thr and
// 0 below (x in [0, 1]); arithmetic only, see rgbToHSV.
func (a *arena) solarize(x *ts.Tensor, thr float64) *ts.Tensor {
	m := a.t(a.t(x.MustAddScalar(scalar(1-thr), false)).MustFloor(false))
	m = a.clamp01(m)
	d := a.t(a.t(x.MustMulScalar(scalar(-2), false)).MustAddScalar(scalar(1), false))
	return a.t(x.MustAdd(a.t(m.MustMul(d, false)), false))
}

// gaussian1d returns the normalised Gaussian of width k (odd) and standard
// deviation sigma, sampled at the integers -k/2..k/2.
func gaussian1d(k int, sigma float64) []float64 {
	w := make([]float64, k)
	half := float64(k-1) / 2
	sum := 0.0
	for i := range w {
		d := (float64(i) - half) / sigma
		w[i] = math.Exp(-0.5 * d * d)
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// blur blurs image k of x [n,C,H,W] with a Gaussian of standard deviation
// sigmas[k], kernel width ksize (odd), reflect padding: a separable
// grouped convolution, one kernel per image and channel.
func (a *arena) blur(x *ts.Tensor, sigmas []float64, ksize int) *ts.Tensor {
	sz := x.MustSize()
	n, c, hgt, wid := sz[0], sz[1], sz[2], sz[3]
	half := min(int64(ksize/2), hgt-1, wid-1)
	if half <= 0 {
		return x
	}
	k := 2*half + 1
	weights := make([]float32, 0, int(n*c*k))
	for _, sg := range sigmas {
		g := gaussian1d(int(k), sg)
		for range c {
			for _, v := range g {
				weights = append(weights, float32(v))
			}
		}
	}
	wv := a.f32(weights, n*c, 1, k, 1)
	wh := a.t(wv.MustView([]int64{n * c, 1, 1, k}, false))
	flat := a.t(x.MustReshape([]int64{1, n * c, hgt, wid}, false))
	padded := a.t(flat.MustReflectionPad2d([]int64{half, half, half, half}, false))
	noBias := a.t(ts.NewTensor())
	one, zero := []int64{1, 1}, []int64{0, 0}
	y := a.t(ts.MustConv2d(padded, wv, noBias, one, zero, one, n*c))
	y = a.t(ts.MustConv2d(y, wh, noBias, one, zero, one, n*c))
	return a.t(y.MustReshape(sz, false))
}

// normalize maps channel c of x to (x - mean[c]) / std[c].
func (a *arena) normalize(x *ts.Tensor, nm *Normalize) *ts.Tensor {
	if len(nm.Mean) == 1 {
		y := a.t(x.MustSubScalar(scalar(nm.Mean[0]), false))
		return a.t(y.MustDivScalar(scalar(nm.Std[0]), false))
	}
	c := int64(len(nm.Mean))
	mean := make([]float32, c)
	std := make([]float32, c)
	for i := range mean {
		mean[i], std[i] = float32(nm.Mean[i]), float32(nm.Std[i])
	}
	y := a.t(x.MustSub(a.f32(mean, 1, c, 1, 1), false))
	return a.t(y.MustDiv(a.f32(std, 1, c, 1, 1), false))
}
