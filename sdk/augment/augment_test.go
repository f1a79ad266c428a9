package augment

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
)

var ctx = context.Background()

func TestBuiltinRecipes(t *testing.T) {
	for _, name := range Recipes() {
		for _, d := range []struct{ size, channels int }{{28, 1}, {32, 3}, {96, 3}, {224, 3}, {100, 9}} {
			t.Run(fmt.Sprintf("%s/%dx%d", name, d.channels, d.size), func(t *testing.T) {
				r, err := Builtin(name, d.size, d.channels)
				if err != nil {
					t.Fatal(err)
				}
				if r.Name != name {
					t.Errorf("Name = %q", r.Name)
				}
				if d.channels != 3 && (r.Grayscale != 0 || (r.Jitter != nil && (r.Jitter.Saturation != 0 || r.Jitter.Hue != 0))) {
					t.Errorf("colour ops left on %d-channel data: %+v %+v", d.channels, r.Grayscale, r.Jitter)
				}
				y, err := r.YAML()
				if err != nil {
					t.Fatal(err)
				}
				back, err := ParseRecipe(y)
				if err != nil {
					t.Fatalf("%v\n%s", err, y)
				}
				if !reflect.DeepEqual(back, r) {
					t.Errorf("YAML round trip changed the recipe:\n%s\n%+v\n%+v", y, back, r)
				}
			})
		}
	}
}

// TestFashionMNISTSimCLRMatchesReference: the simclr recipe for 1×28×28 is
// the PyTorch reference's augmentation (common.py: BatchAug).
func TestFashionMNISTSimCLRMatchesReference(t *testing.T) {
	got, err := Builtin("simclr", 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Recipe{
		Name:      "simclr",
		Size:      28,
		Crop:      &Crop{Scale: [2]float64{0.2, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}},
		Flip:      0.5,
		Jitter:    &Jitter{P: 0.8, Brightness: 0.4, Contrast: 0.4},
		Normalize: &Normalize{Mean: []float64{0.2860}, Std: []float64{0.3530}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("simclr for Fashion-MNIST:\n got %+v\nwant %+v", got, want)
	}
}

func TestBuiltinScaling(t *testing.T) {
	cases := []struct {
		name       string
		size       int
		wantSize   int
		wantBlur   bool
		wantSolar  bool
		wantMinCrp float64
	}{
		{"dino-local", 224, 96, true, false, 0.05},
		{"dino-local", 28, 12, false, false, 0.05},
		{"dino-global", 224, 224, true, false, 0.4},
		{"dino-global2", 224, 224, true, true, 0.4},
		{"curl-crop", 100, 84, false, false, 0},
		{"byol1", 224, 224, true, false, 0.08},
		{"byol2", 224, 224, true, true, 0.08},
		{"byol2", 32, 32, false, true, 0.2},
		{"mocov2", 224, 224, true, false, 0.2},
		{"simclr", 224, 224, true, false, 0.08},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+strconv.Itoa(c.size), func(t *testing.T) {
			r, err := Builtin(c.name, c.size, 3)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size != c.wantSize {
				t.Errorf("Size = %d, want %d", r.Size, c.wantSize)
			}
			if (r.Blur != nil) != c.wantBlur || (r.Solarize != nil) != c.wantSolar {
				t.Errorf("blur %+v solarize %+v, want blur %v solarize %v", r.Blur, r.Solarize, c.wantBlur, c.wantSolar)
			}
			if c.wantMinCrp > 0 && r.Crop.Scale[0] != c.wantMinCrp {
				t.Errorf("crop scale %v, want min %v", r.Crop.Scale, c.wantMinCrp)
			}
		})
	}
	if b, _ := Builtin("byol1", 224, 3); b.Blur.P != 1 || b.Blur.Kernel != 23 {
		t.Errorf("byol1 blur %+v, want p 1 and a 23-pixel kernel", b.Blur)
	}
	if b, _ := Builtin("byol2", 224, 3); b.Blur.P != 0.1 || b.Solarize.P != 0.2 {
		t.Errorf("byol2 blur %+v solarize %+v, want p 0.1 and 0.2", b.Blur, b.Solarize)
	}
}

func TestRecipeErrors(t *testing.T) {
	if _, err := Builtin("simclr2", 28, 1); err == nil || !strings.Contains(err.Error(), "simclr") {
		t.Errorf("unknown recipe: %v", err)
	}
	if _, err := Builtin("simclr", 0, 1); err == nil {
		t.Error("size 0: want an error")
	}
	bad := []struct {
		name, yaml, want string
	}{
		{"unknown field", "size: 28\nflipp: 0.5\n", "flipp"},
		{"probability", "flip: 1.5\n", "flip probability"},
		{"scale", "crop: {scale: [0.5, 0.2]}\n", "crop scale"},
		{"hue", "jitter: {p: 1, hue: 0.7}\n", "hue"},
		{"normalize", "normalize: {mean: [0.5], std: [0]}\n", "std"},
		{"fixed crop without size", "crop: {fixed: true}\n", "fixed crop"},
		{"not yaml", "size: [\n", "parse"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRecipe([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	r := Recipe{Jitter: &Jitter{P: 1, Saturation: 0.4}}
	if err := r.Validate(9); err == nil {
		t.Error("saturation on 9 channels: want an error")
	}
}

func TestLoadRecipe(t *testing.T) {
	path := t.TempDir() + "/r.yaml"
	r, _ := Builtin("byol2", 64, 3)
	y, _ := r.YAML()
	if err := os.WriteFile(path, y, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecipe(path)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("LoadRecipe = %+v, %v", got, err)
	}
	if _, err := LoadRecipe(path + ".missing"); err == nil {
		t.Error("missing file: want an error")
	}
}

// TestDeterminism: the same request gives bit-identical views; another
// step or seed gives other views; views of one request differ.
func TestDeterminism(t *testing.T) {
	for _, name := range Recipes() {
		for _, ch := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/%d", name, ch), func(t *testing.T) {
				size := 32
				r, err := Builtin(name, size, ch)
				if err != nil {
					t.Fatal(err)
				}
				if r.Blur == nil {
					r.Blur = &Blur{P: 0.5, Sigma: [2]float64{0.1, 2}, Kernel: 5}
				}
				p, err := New(ViewRecipe{Name: "a", Recipe: r}, ViewRecipe{Name: "b", Recipe: r})
				if err != nil {
					t.Fatal(err)
				}
				x := randomU8(t, 3, 16, ch, size, size)
				defer x.MustDrop()
				run := func(seed, step uint64) [][]float32 {
					res, err := p.Augment(ctx, Request{Images: x, Seed: seed, Step: step})
					if err != nil {
						t.Fatal(err)
					}
					defer res.Drop()
					var out [][]float32
					for _, v := range res.Views {
						out = append(out, values(t, v.Images), values(t, v.Boxes))
					}
					return out
				}
				a, b := run(7, 3), run(7, 3)
				if !reflect.DeepEqual(a, b) {
					t.Fatal("same seed and step gave different views")
				}
				if name == "identity" {
					return
				}
				if reflect.DeepEqual(a, run(7, 4)) || reflect.DeepEqual(a, run(8, 3)) {
					t.Error("another step or seed gave the same views")
				}
				if slices.Equal(a[0], a[2]) {
					t.Error("the two views of one request are the same")
				}
			})
		}
	}
}

// TestShapesAndRanges: every built-in recipe makes views of the right
// shape, dtype and value range, from uint8 and float input alike.
func TestShapesAndRanges(t *testing.T) {
	for _, name := range Recipes() {
		for _, d := range []struct{ size, ch int }{{28, 1}, {40, 3}} {
			t.Run(fmt.Sprintf("%s/%dx%d", name, d.ch, d.size), func(t *testing.T) {
				r, err := Builtin(name, d.size, d.ch)
				if err != nil {
					t.Fatal(err)
				}
				const n = 24
				x := randomU8(t, 5, n, d.ch, d.size, d.size)
				defer x.MustDrop()
				xf := x.MustTotype(gotch.Float, false).MustDivScalar(scalar(255), true)
				defer xf.MustDrop()
				p := single(t, r)
				res, err := p.Augment(ctx, Request{Images: x, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer res.Drop()
				resF, err := p.Augment(ctx, Request{Images: xf, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer resF.Drop()
				v := res.Views[0]
				s := int64(r.Size)
				if got := v.Images.MustSize(); !slices.Equal(got, []int64{n, int64(d.ch), s, s}) || v.Images.DType() != gotch.Float {
					t.Errorf("images %v %v, want [%d %d %d %d] float", got, v.Images.DType(), n, d.ch, s, s)
				}
				if got := v.Boxes.MustSize(); !slices.Equal(got, []int64{n, 4}) {
					t.Errorf("boxes %v", got)
				}
				lo, hi := float32(0), float32(1)
				if nm := r.Normalize; nm != nil {
					lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
					for c := range nm.Mean {
						lo = min(lo, float32(-nm.Mean[c]/nm.Std[c]))
						hi = max(hi, float32((1-nm.Mean[c])/nm.Std[c]))
					}
				}
				vals := values(t, v.Images)
				for _, f := range vals {
					if !(f >= lo-1e-5 && f <= hi+1e-5) {
						t.Fatalf("value %v outside [%v, %v]", f, lo, hi)
					}
				}
				if d := maxDiff(vals, values(t, resF.Views[0].Images)); d > 1e-6 {
					t.Errorf("uint8 and float input differ by %g", d)
				}
				for i, b := range values(t, v.Boxes) {
					if side := float32(d.size); b < 0 || b > side {
						t.Fatalf("box coordinate %d = %v outside [0, %v]", i, b, side)
					}
				}
				if r.Rotate {
					for _, k := range ints(t, v.Labels["rotation"]) {
						if k < 0 || k > 3 {
							t.Fatalf("rotation label %d", k)
						}
					}
				} else if len(v.Labels) != 0 {
					t.Errorf("labels %v without rotation", v.Labels)
				}
			})
		}
	}
}

// ramps returns n 2×h×w images: channel 0 is the pixel's column, channel 1
// its row. Bilinear resampling of a ramp is exact, so a view's pixels say
// where in the image they came from.
func ramps(t testing.TB, n, h, w int) []float32 {
	v := make([]float32, 0, n*2*h*w)
	for range n {
		for y := range h {
			for x := range w {
				v = append(v, float32(x))
				_ = y
			}
		}
		for y := range h {
			for range w {
				v = append(v, float32(y))
			}
		}
	}
	return v
}

// TestCropBoxesMatchContent: every view pixel comes from where its box
// says, flips included.
func TestCropBoxesMatchContent(t *testing.T) {
	cases := []struct {
		name   string
		recipe Recipe
		h, w   int
	}{
		{"resized crop and flip", Recipe{Size: 20, Crop: &Crop{Scale: [2]float64{0.1, 1}}, Flip: 0.5}, 30, 30},
		{"upscaling crops", Recipe{Size: 48, Crop: &Crop{Scale: [2]float64{0.05, 0.3}, Ratio: [2]float64{0.5, 2}}, Flip: 0.5}, 24, 24},
		{"non-square input", Recipe{Size: 16, Crop: &Crop{Scale: [2]float64{0.2, 1}}}, 20, 36},
		{"fixed crop", Recipe{Size: 21, Crop: &Crop{Fixed: true}, Flip: 0.5}, 25, 25},
		{"resize whole", Recipe{Size: 13}, 25, 25},
		{"flip only", Recipe{Flip: 0.5}, 9, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const n = 64
			x := f32(t, ramps(t, n, c.h, c.w), n, 2, int64(c.h), int64(c.w))
			defer x.MustDrop()
			c.recipe.Name = c.name
			res, err := single(t, c.recipe).Augment(ctx, Request{Images: x, Seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Drop()
			v := res.Views[0]
			sz := v.Images.MustSize()
			oh, ow := int(sz[2]), int(sz[3])
			img, boxes := values(t, v.Images), values(t, v.Boxes)
			flips := 0
			for k := range n {
				b := boxes[4*k : 4*k+4]
				x0, y0, x1, y1 := float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])
				if x0 > x1 {
					flips++
				}
				xlo, xhi := min(x0, x1), max(x0, x1)-1
				for u := range ow {
					want := min(max(x0+(float64(u)+0.5)*(x1-x0)/float64(ow)-0.5, xlo), xhi)
					for y := range oh {
						if got := float64(img[((k*2)*oh+y)*ow+u]); math.Abs(got-want) > 1e-3 {
							t.Fatalf("image %d box %v: column %d holds x %v, want %v", k, b, u, got, want)
						}
					}
				}
				for y := range oh {
					want := min(max(y0+(float64(y)+0.5)*(y1-y0)/float64(oh)-0.5, y0), y1-1)
					if got := float64(img[((k*2+1)*oh+y)*ow]); math.Abs(got-want) > 1e-3 {
						t.Fatalf("image %d box %v: row %d holds y %v, want %v", k, b, y, got, want)
					}
				}
			}
			if c.recipe.Flip > 0 && (flips < n/5 || flips > 4*n/5) {
				t.Errorf("%d of %d flipped at p %v", flips, n, c.recipe.Flip)
			}
		})
	}
}

// TestFlipExact: without a crop, a flip mirrors the image exactly.
func TestFlipExact(t *testing.T) {
	for _, p := range []float64{0, 1} {
		x := randomU8(t, 2, 4, 3, 5, 7)
		defer x.MustDrop()
		res, err := single(t, Recipe{Flip: p}).Augment(ctx, Request{Images: x})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Drop()
		want := x.MustTotype(gotch.Float, false).MustDivScalar(scalar(255), true)
		if p == 1 {
			want = want.MustFlip([]int64{3}, true)
		}
		defer want.MustDrop()
		if d := maxDiff(values(t, res.Views[0].Images), values(t, want)); d != 0 {
			t.Errorf("flip p %v: differs from the expected image by %g", p, d)
		}
		wantBox := []float32{0, 0, 7, 5}
		if p == 1 {
			wantBox = []float32{7, 0, 0, 5}
		}
		if got := values(t, res.Views[0].Boxes)[:4]; !slices.Equal(got, wantBox) {
			t.Errorf("flip p %v: box %v, want %v", p, got, wantBox)
		}
	}
}

// TestColourIdentity: jitter with zero strength, and the colour ops at
// their neutral factors, leave images as they are.
func TestColourIdentity(t *testing.T) {
	x := randomU8(t, 9, 8, 3, 6, 6)
	defer x.MustDrop()
	xf := x.MustTotype(gotch.Float, false).MustDivScalar(scalar(255), true)
	defer xf.MustDrop()
	orig := values(t, xf)
	res, err := single(t, Recipe{Jitter: &Jitter{P: 1}, Grayscale: 0, Solarize: &Solarize{P: 0}}).Augment(ctx, Request{Images: x})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Drop()
	if d := maxDiff(values(t, res.Views[0].Images), orig); d != 0 {
		t.Errorf("zero jitter changed the images by %g", d)
	}
	a := newArena(gotch.CPU)
	defer a.close()
	ones := a.f32([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 8, 1, 1, 1)
	zeros := a.f32(make([]float32, 8), 8, 1, 1, 1)
	cases := []struct {
		name string
		out  []float32
		tol  float64
	}{
		{"brightness 1", values(t, a.brightness(xf, ones)), 0},
		{"contrast 1", values(t, a.contrast(xf, ones)), 1e-6},
		{"saturation 1", values(t, a.saturation(xf, ones)), 1e-6},
		{"hue 0", values(t, a.hue(xf, zeros)), 1e-5},
		{"rgb to hsv and back", values(t, a.hsvToRGB(a.rgbToHSV(xf))), 1e-5},
	}
	for _, c := range cases {
		if d := maxDiff(c.out, orig); d > c.tol {
			t.Errorf("%s changed the images by %g", c.name, d)
		}
	}
}

// TestColourOps checks the colour ops on pixels with known answers.
func TestColourOps(t *testing.T) {
	a := newArena(gotch.CPU)
	defer a.close()
	// One pixel per image: red, a dull orange, white-ish gray, black.
	rgb := a.f32([]float32{1, 0, 0, 0.8, 0.5, 0.2, 0.7, 0.7, 0.7, 0, 0, 0}, 4, 1, 1, 3)
	rgb = a.t(rgb.MustPermute([]int64{0, 3, 1, 2}, false)) // [4,3,1,1]
	f := func(v ...float32) []float32 { return v }
	per := func(v float32) *ts.Tensor { return a.f32([]float32{v, v, v, v}, 4, 1, 1, 1) }
	cases := []struct {
		name string
		got  []float32 // [4,3,1,1] flattened
		want []float32
	}{
		{"hue +1/3 turns red green", values(t, a.hue(rgb, per(1.0/3))),
			f(0, 1, 0, 0.2, 0.8, 0.5, 0.7, 0.7, 0.7, 0, 0, 0)},
		{"hue 1/2 turns red cyan", values(t, a.hue(rgb, per(0.5))),
			f(0, 1, 1, 0.2, 0.5, 0.8, 0.7, 0.7, 0.7, 0, 0, 0)},
		{"saturation 0 is luma", values(t, a.saturation(rgb, per(0))),
			f(0.2989, 0.2989, 0.2989, 0.55542, 0.55542, 0.55542, 0.69993, 0.69993, 0.69993, 0, 0, 0)},
		{"brightness 2 clamps", values(t, a.brightness(rgb, per(2))),
			f(1, 0, 0, 1, 1, 0.4, 1, 1, 1, 0, 0, 0)},
		{"grayscale", values(t, a.grayscale(rgb)),
			f(0.2989, 0.2989, 0.2989, 0.55542, 0.55542, 0.55542, 0.69993, 0.69993, 0.69993, 0, 0, 0)},
		{"solarize", values(t, a.solarize(rgb, 0.5)),
			f(0, 0, 0, 0.2, 0.5, 0.2, 0.3, 0.3, 0.3, 0, 0, 0)},
	}
	for _, c := range cases {
		if d := maxDiff(c.got, c.want); d > 1e-4 {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Contrast 0 makes every pixel the image's mean luma.
	img := a.f32([]float32{0, 0.25, 0.5, 1}, 1, 1, 2, 2)
	if got := values(t, a.contrast(img, a.f32([]float32{0}, 1, 1, 1, 1))); maxDiff(got, f(0.4375, 0.4375, 0.4375, 0.4375)) > 1e-6 {
		t.Errorf("contrast 0: %v", got)
	}
}

// TestBlur: the kernel sums to one, so a constant image stays constant, an
// impulse away from the edges keeps its mass, and the mean of an image
// barely moves.
func TestBlur(t *testing.T) {
	a := newArena(gotch.CPU)
	defer a.close()
	const side = 21
	impulse := make([]float32, 2*side*side)
	impulse[side*side/2] = 1
	constant := slices.Repeat([]float32{0.3}, side*side)
	x := a.f32(append(impulse, constant...), 3, 1, side, side)
	out := values(t, a.blur(x, []float64{0.5, 1.7, 2}, 9))
	sum := 0.0
	for _, v := range out[:side*side] {
		sum += float64(v)
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("blurred impulse sums to %v, want 1", sum)
	}
	if out[side*side/2] >= 1 || out[side*side/2] < 0.3 {
		t.Errorf("impulse centre %v after a sigma-0.5 blur", out[side*side/2])
	}
	if d := maxDiff(out[2*side*side:], constant); d > 1e-6 {
		t.Errorf("constant image changed by %g", d)
	}
	img := randomU8(t, 4, 4, 3, 28, 28)
	defer img.MustDrop()
	xf := a.t(a.t(img.MustTotype(gotch.Float, false)).MustDivScalar(scalar(255), false))
	blurred := a.blur(xf, []float64{0.3, 1, 2, 3}, 7)
	m0 := values(t, a.t(xf.MustMeanDim([]int64{1, 2, 3}, false, gotch.Float, false)))
	m1 := values(t, a.t(blurred.MustMeanDim([]int64{1, 2, 3}, false, gotch.Float, false)))
	if d := maxDiff(m0, m1); d > 5e-3 {
		t.Errorf("blur moved image means by %g: %v -> %v", d, m0, m1)
	}
	if d := maxDiff(values(t, blurred)[:28*28*3], values(t, xf)[:28*28*3]); d == 0 {
		t.Error("blur left the image as it was")
	}
}

// TestRotation: each view is its image turned by its label's quarter turns.
func TestRotation(t *testing.T) {
	x := randomU8(t, 1, 32, 1, 5, 5)
	defer x.MustDrop()
	res, err := single(t, Recipe{Rotate: true}).Augment(ctx, Request{Images: x, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Drop()
	v := res.Views[0]
	labels := ints(t, v.Labels["rotation"])
	seen := map[int64]bool{}
	for k, turns := range labels {
		seen[turns] = true
		img := x.MustNarrow(0, int64(k), 1, false).MustTotype(gotch.Float, true).MustDivScalar(scalar(255), true).MustRot90(turns, []int64{2, 3}, true)
		got := v.Images.MustNarrow(0, int64(k), 1, false)
		if d := maxDiff(values(t, got), values(t, img)); d != 0 {
			t.Errorf("image %d, %d turns: differs by %g", k, turns, d)
		}
		img.MustDrop()
		got.MustDrop()
	}
	if len(seen) != 4 {
		t.Errorf("labels %v do not use all four turns", labels)
	}
}

// TestFixedRotations: the rotation-0 … rotation-270 recipes turn every
// image by their angle and label it so; a bad turns value is refused.
func TestFixedRotations(t *testing.T) {
	x := randomU8(t, 1, 6, 1, 5, 5)
	defer x.MustDrop()
	for q, name := range []string{"rotation-0", "rotation-90", "rotation-180", "rotation-270"} {
		r, err := Builtin(name, 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		r.Normalize = nil
		res, err := single(t, r).Augment(ctx, Request{Images: x, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Views[0]
		for k, turns := range ints(t, v.Labels["rotation"]) {
			if turns != int64(q) {
				t.Fatalf("%s: image %d labelled %d turns", name, k, turns)
			}
		}
		want := x.MustTotype(gotch.Float, false).MustDivScalar(scalar(255), true).MustRot90(int64(q), []int64{2, 3}, true)
		if d := maxDiff(values(t, v.Images), values(t, want)); d != 0 {
			t.Errorf("%s: differs from rot90 by %g", name, d)
		}
		want.MustDrop()
		res.Drop()
	}
	bad := Recipe{Name: "x", Turns: 2}
	if err := bad.Validate(1); err == nil {
		t.Error("turns without rotate accepted")
	}
}

// TestCropStatistics: crop boxes follow torchvision's RandomResizedCrop.
func TestCropStatistics(t *testing.T) {
	// With no rejections (small areas in a large image) the area fraction
	// is uniform and the log aspect ratio too.
	g := newRNG(1, 2, 0)
	const n = 20000
	var area, logr, logr2 float64
	lo, hi := 0.08, 0.5
	for range n {
		b := resizedCropBox(g, 448, 448, [2]float64{lo, hi}, [2]float64{3.0 / 4, 4.0 / 3})
		if b.i < 0 || b.j < 0 || b.i+b.h > 448 || b.j+b.w > 448 {
			t.Fatalf("box %+v outside the image", b)
		}
		f := float64(b.w*b.h) / (448 * 448)
		if f < lo*0.98 || f > hi*1.02 {
			t.Fatalf("area fraction %v outside [%v, %v]", f, lo, hi)
		}
		area += f
		l := math.Log(float64(b.w) / float64(b.h))
		logr += l
		logr2 += l * l
	}
	area, logr = area/n, logr/n
	sd := math.Sqrt(logr2/n - logr*logr)
	if want := (lo + hi) / 2; math.Abs(area-want) > 0.004 {
		t.Errorf("mean area fraction %.4f, want %.4f", area, want)
	}
	if wantSD := 2 * math.Log(4.0/3) / math.Sqrt(12); math.Abs(logr) > 0.005 || math.Abs(sd-wantSD) > 0.005 {
		t.Errorf("log ratio mean %.4f sd %.4f, want 0 and %.4f", logr, sd, wantSD)
	}

	// On 28×28 images the boxes the pipeline reports have the statistics
	// of torchvision 0.14's get_params (40000 draws, see the package's
	// test notes): mean area fraction and mean side.
	cases := []struct {
		scale            [2]float64
		wantArea, wantSD float64
		wantSide         float64
	}{
		{[2]float64{0.2, 1}, 0.5522, 0.2074, 20.48},
		{[2]float64{0.08, 1}, 0.4922, 0.2414, 19.01},
		{[2]float64{0.05, 0.4}, 0.2262, 0.1013, 12.98},
	}
	x := randomU8(t, 1, 4096, 1, 28, 28)
	defer x.MustDrop()
	for _, c := range cases {
		p := single(t, Recipe{Size: 8, Crop: &Crop{Scale: c.scale}})
		var fr, fr2, side float64
		m := 0
		for step := range 5 {
			res, err := p.Augment(ctx, Request{Images: x, Seed: 5, Step: uint64(step)})
			if err != nil {
				t.Fatal(err)
			}
			b := values(t, res.Views[0].Boxes)
			res.Drop()
			for k := 0; k < len(b); k += 4 {
				w, h := float64(b[k+2]-b[k]), float64(b[k+3]-b[k+1])
				f := w * h / 784
				fr += f
				fr2 += f * f
				side += (w + h) / 2
				m++
			}
		}
		fr, side = fr/float64(m), side/float64(m)
		sd := math.Sqrt(fr2/float64(m) - fr*fr)
		if math.Abs(fr-c.wantArea) > 0.006 || math.Abs(sd-c.wantSD) > 0.006 || math.Abs(side-c.wantSide) > 0.15 {
			t.Errorf("scale %v: area mean %.4f sd %.4f side %.2f; torchvision %.4f %.4f %.2f",
				c.scale, fr, sd, side, c.wantArea, c.wantSD, c.wantSide)
		}
	}
}

// TestProbabilities: random-apply ops fire at their rates.
func TestProbabilities(t *testing.T) {
	const n = 4000
	x := randomU8(t, 6, n, 1, 4, 4)
	defer x.MustDrop()
	res, err := single(t, Recipe{Flip: 0.3, Solarize: &Solarize{P: 0.2}}).Augment(ctx, Request{Images: x, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Drop()
	b := values(t, res.Views[0].Boxes)
	flips := 0
	for k := 0; k < len(b); k += 4 {
		if b[k] > b[k+2] {
			flips++
		}
	}
	if r := float64(flips) / n; math.Abs(r-0.3) > 0.03 {
		t.Errorf("flip rate %.3f, want 0.3", r)
	}
}

func TestFromSpec(t *testing.T) {
	spec := method.Spec{Name: "dino", Views: []method.View{
		{Name: "global1", Recipe: "dino-global", Online: true},
		{Name: "global2", Recipe: "dino-global2", Online: true},
		{Name: "local1", Recipe: "dino-local", Size: 10, Online: true},
		{Name: "mine", Recipe: "custom", Online: true},
	}}
	custom := Recipe{Name: "custom", Size: 7}
	p, err := FromSpec(spec, SpecOptions{Size: 28, Channels: 1, Recipes: map[string]Recipe{"custom": custom}})
	if err != nil {
		t.Fatal(err)
	}
	x := randomU8(t, 1, 3, 1, 28, 28)
	defer x.MustDrop()
	res, err := p.Augment(ctx, Request{Images: x})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Drop()
	want := map[string]int64{"global1": 28, "global2": 28, "local1": 10, "mine": 7}
	for name, side := range want {
		v, ok := res.View(name)
		if !ok {
			t.Fatalf("no view %s", name)
		}
		if got := v.Images.MustSize(); got[2] != side {
			t.Errorf("view %s: side %d, want %d", name, got[2], side)
		}
	}
	spec.Views = append(spec.Views, method.View{Name: "bad", Recipe: "nope", Online: true})
	if _, err := FromSpec(spec, SpecOptions{Size: 28, Channels: 1, Recipes: map[string]Recipe{"custom": custom}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown recipe: %v", err)
	}
}

func TestRequestErrors(t *testing.T) {
	p := single(t, Recipe{Size: 30, Crop: &Crop{Fixed: true}})
	x3 := randomU8(t, 1, 2, 1, 28, 28)
	defer x3.MustDrop()
	flat := x3.MustView([]int64{2, 28, 28}, false)
	defer flat.MustDrop()
	i64 := x3.MustTotype(gotch.Int64, false)
	defer i64.MustDrop()
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"no images", Request{}, "no images"},
		{"3-d", Request{Images: flat}, "[N, C, H, W]"},
		{"int64", Request{Images: i64}, "dtype"},
		{"crop too big", Request{Images: x3}, "does not fit"},
	}
	for _, c := range cases {
		_, err := p.Augment(ctx, c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := New(); err == nil {
		t.Error("New(): want an error")
	}
	if _, err := New(ViewRecipe{Name: "a", Recipe: Recipe{}}, ViewRecipe{Name: "a", Recipe: Recipe{}}); err == nil {
		t.Error("two views named a: want an error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := single(t, Recipe{}).Augment(cancelled, Request{Images: x3}); err == nil {
		t.Error("cancelled context: want an error")
	}
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestMemoryFlat: augmenting 300 batches does not grow memory. The C
// allocator takes a while to settle (its heaps and mmap threshold grow
// at first, and under CPU load a step of tens of MiB can come late), so
// growth is measured over two windows of 100 batches after the first 100:
// a leak grows both, settling one; the smaller, doubled, is the growth
// over 200 batches.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	r, _ := Builtin("simclr", 28, 1)
	p, _ := New(ViewRecipe{Name: "v1", Recipe: r}, ViewRecipe{Name: "v2", Recipe: r})
	x := randomU8(t, 1, 256, 1, 28, 28)
	defer x.MustDrop()
	var rss []int64
	for step := range 300 {
		if step%50 == 0 {
			runtime.GC()
			rss = append(rss, rssBytes(t))
		}
		res, err := p.Augment(ctx, Request{Images: x, Seed: 1, Step: uint64(step)})
		if err != nil {
			t.Fatal(err)
		}
		res.Drop()
	}
	runtime.GC()
	rss = append(rss, rssBytes(t))
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	var trace []string
	for _, b := range rss {
		trace = append(trace, fmt.Sprintf("%.1f", mib(b)))
	}
	t.Logf("RSS every 50 batches (MiB): %s", strings.Join(trace, " "))
	// One batch's views and temporaries are about 5 MiB; a leak of any
	// one of them (0.8 MiB or more) would add 160 MiB over 200 batches.
	// What remains is allocator noise and gotch v0.9.1's own per-call
	// overhead (a never-freed malloc(0) per op, ~30 KiB per batch here).
	if grew := 2 * min(rss[4]-rss[2], rss[6]-rss[4]); grew > 40<<20 {
		t.Errorf("RSS grew %.1f MiB per 200 batches of 256 images (the smaller of two 100-batch windows, doubled)", mib(grew))
	}
}

func benchmarkRecipe(b *testing.B, name string, n, ch, size int) {
	r, err := Builtin(name, size, ch)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := New(ViewRecipe{Name: "v1", Recipe: r}, ViewRecipe{Name: "v2", Recipe: r})
	x := randomU8(b, 1, n, ch, size, size)
	defer x.MustDrop()
	b.ResetTimer()
	for i := range b.N {
		res, err := p.Augment(ctx, Request{Images: x, Seed: 1, Step: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		res.Drop()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/batch")
}

// BenchmarkSimCLR is the Fashion-MNIST SimCLR recipe, two views of a
// 256-image batch (the PyTorch reference takes about 7 ms for one view).
func BenchmarkSimCLR(b *testing.B)       { benchmarkRecipe(b, "simclr", 256, 1, 28) }
func BenchmarkSimCLR512(b *testing.B)    { benchmarkRecipe(b, "simclr", 512, 1, 28) }
func BenchmarkBYOL2RGB32(b *testing.B)   { benchmarkRecipe(b, "byol2", 256, 3, 32) }
func BenchmarkDINOGlobal96(b *testing.B) { benchmarkRecipe(b, "dino-global", 64, 3, 96) }
