package augment

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"

	"gopkg.in/yaml.v3"
)

// Recipe says what one view does to an image. The ops run in this order,
// each one only when its field is set: Crop, Flip, Jitter, Grayscale,
// Blur, Solarize, Rotate, Normalize. Ops that draw at random draw for each
// image on its own. The zero Recipe converts images to float in [0, 1] and
// does nothing else.
//
// A Recipe is plain data: copy a Builtin one, edit it, and save it as
// YAML (field names as in the yaml tags).
type Recipe struct {
	// Name is the recipe's name ("simclr", ...); informative only.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Size is the side of the square view in pixels; 0 keeps the input's
	// size (then the input must be square if anything crops).
	Size int `yaml:"size,omitempty" json:"size,omitempty"`
	// Crop, when set, crops each image at random and resizes the crop to
	// Size; when nil an input whose size differs from Size is resized whole.
	Crop *Crop `yaml:"crop,omitempty" json:"crop,omitempty"`
	// Flip is the probability of a horizontal flip.
	Flip float64 `yaml:"flip,omitempty" json:"flip,omitempty"`
	// Jitter, when set, changes brightness, contrast, saturation and hue.
	Jitter *Jitter `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	// Grayscale is the probability of turning an RGB image gray (kept as 3
	// channels); it does nothing to 1-channel images.
	Grayscale float64 `yaml:"grayscale,omitempty" json:"grayscale,omitempty"`
	// Blur, when set, blurs with a Gaussian of random width.
	Blur *Blur `yaml:"blur,omitempty" json:"blur,omitempty"`
	// Solarize, when set, inverts the pixels above a threshold.
	Solarize *Solarize `yaml:"solarize,omitempty" json:"solarize,omitempty"`
	// Rotate turns each image by a random multiple of 90° (counter-
	// clockwise) and reports the number of turns, 0 to 3, as the
	// pseudo-label "rotation". The view must be square.
	Rotate bool `yaml:"rotate,omitempty" json:"rotate,omitempty"`
	// Turns, with Rotate, fixes the rotation instead: every image is turned
	// by Turns−1 quarter turns (1 to 4: 0° to 270°; 0 draws at random), so
	// that several views of one recipe family cover all four rotations of
	// each image, as RotNet trains (Gidaris et al. 2018).
	Turns int `yaml:"turns,omitempty" json:"turns,omitempty"`
	// Normalize, when set, maps each channel to (x - mean) / std; when nil
	// the view stays in [0, 1].
	Normalize *Normalize `yaml:"normalize,omitempty" json:"normalize,omitempty"`
}

// Crop is a random crop, as torchvision's RandomResizedCrop: a box of
// area fraction drawn uniformly from Scale and aspect ratio (width/height)
// drawn log-uniformly from Ratio, up to 10 tries, then the whole image
// (centre crop to the nearest allowed ratio) as the fallback; resized to
// the view's size with bilinear interpolation (align_corners=false, no
// antialiasing, samples clamped to the box's edge pixels).
type Crop struct {
	// Scale is the [min, max] fraction of the image's area; zero means
	// [0.08, 1].
	Scale [2]float64 `yaml:"scale,flow,omitempty" json:"scale,omitempty"`
	// Ratio is the [min, max] aspect ratio; zero means [3/4, 4/3].
	Ratio [2]float64 `yaml:"ratio,flow,omitempty" json:"ratio,omitempty"`
	// Fixed, when true, crops a Size×Size window at a uniform random
	// offset without resizing (CURL's random crop); Scale and Ratio are
	// ignored.
	Fixed bool `yaml:"fixed,omitempty" json:"fixed,omitempty"`
}

// Jitter is torchvision's ColorJitter applied with probability P: factors
// drawn uniformly from [max(0, 1-b), 1+b] for brightness, contrast and
// saturation and from [-hue, hue] for hue, the four ops in a random order
// per image, each clamping to [0, 1]. Saturation and hue do nothing to
// 1-channel images.
type Jitter struct {
	// P is the probability of jittering an image at all.
	P          float64 `yaml:"p" json:"p"`
	Brightness float64 `yaml:"brightness,omitempty" json:"brightness,omitempty"`
	Contrast   float64 `yaml:"contrast,omitempty" json:"contrast,omitempty"`
	Saturation float64 `yaml:"saturation,omitempty" json:"saturation,omitempty"`
	// Hue is at most 0.5 (half the colour circle).
	Hue float64 `yaml:"hue,omitempty" json:"hue,omitempty"`
}

// Blur is a Gaussian blur applied with probability P, as torchvision's
// GaussianBlur: sigma drawn uniformly from Sigma per image, a Kernel-wide
// kernel, reflect padding.
type Blur struct {
	P float64 `yaml:"p" json:"p"`
	// Sigma is the [min, max] standard deviation in pixels; zero means
	// [0.1, 2].
	Sigma [2]float64 `yaml:"sigma,flow,omitempty" json:"sigma,omitempty"`
	// Kernel is the odd kernel width; 0 picks about a tenth of the view's
	// side (SimCLR), at least 3.
	Kernel int `yaml:"kernel,omitempty" json:"kernel,omitempty"`
}

// Solarize inverts (x -> 1-x) the pixels at or above Threshold, with
// probability P per image.
type Solarize struct {
	P float64 `yaml:"p" json:"p"`
	// Threshold is in [0, 1]; zero means 0.5.
	Threshold float64 `yaml:"threshold,omitempty" json:"threshold,omitempty"`
}

// Normalize maps channel c to (x - Mean[c]) / Std[c]. One value applies to
// every channel.
type Normalize struct {
	Mean []float64 `yaml:"mean,flow" json:"mean"`
	Std  []float64 `yaml:"std,flow" json:"std"`
}

// Fashion-MNIST's pixel statistics (of x/255 over the training set).
const (
	FashionMNISTMean = 0.2860
	FashionMNISTStd  = 0.3530
)

// scale returns the crop's area range with defaults filled in.
func (c *Crop) scale() [2]float64 {
	if c.Scale == [2]float64{} {
		return [2]float64{0.08, 1}
	}
	return c.Scale
}

// ratio returns the crop's aspect-ratio range with defaults filled in.
func (c *Crop) ratio() [2]float64 {
	if c.Ratio == [2]float64{} {
		return [2]float64{3.0 / 4, 4.0 / 3}
	}
	return c.Ratio
}

func (b *Blur) sigma() [2]float64 {
	if b.Sigma == [2]float64{} {
		return [2]float64{0.1, 2}
	}
	return b.Sigma
}

// kernel returns the blur's odd kernel width for a view of side size.
func (b *Blur) kernel(size int) int {
	k := b.Kernel
	if k <= 0 {
		k = max(3, size/10)
	}
	if k%2 == 0 {
		k++
	}
	return k
}

func (s *Solarize) threshold() float64 {
	if s.Threshold == 0 {
		return 0.5
	}
	return s.Threshold
}

// Validate checks the recipe for images of the given number of channels
// (0 skips the channel checks).
func (r Recipe) Validate(channels int) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	prob := func(name string, p float64) {
		if !(p >= 0 && p <= 1) {
			bad("%s probability %v is outside [0, 1]", name, p)
		}
	}
	if r.Size < 0 {
		bad("size %d is negative; use 0 to keep the input's size", r.Size)
	}
	if c := r.Crop; c != nil {
		if c.Fixed {
			if r.Size == 0 {
				bad("a fixed crop needs a size (the crop's side)")
			}
		} else {
			s, q := c.scale(), c.ratio()
			if !(s[0] > 0 && s[0] <= s[1] && s[1] <= 1) {
				bad("crop scale %v: want 0 < min <= max <= 1", s)
			}
			if !(q[0] > 0 && q[0] <= q[1] && !math.IsInf(q[1], 0)) {
				bad("crop ratio %v: want 0 < min <= max", q)
			}
		}
	}
	prob("flip", r.Flip)
	if j := r.Jitter; j != nil {
		prob("jitter", j.P)
		for _, f := range []struct {
			name string
			v    float64
		}{{"brightness", j.Brightness}, {"contrast", j.Contrast}, {"saturation", j.Saturation}} {
			if !(f.v >= 0) || math.IsInf(f.v, 0) {
				bad("jitter %s %v: want a finite value >= 0", f.name, f.v)
			}
		}
		if !(j.Hue >= 0 && j.Hue <= 0.5) {
			bad("jitter hue %v: want [0, 0.5]", j.Hue)
		}
		if channels != 0 && channels != 1 && channels != 3 && (j.Saturation > 0 || j.Hue > 0 || j.Contrast > 0) {
			bad("jitter contrast/saturation/hue need 1- or 3-channel images, not %d; set them to 0", channels)
		}
	}
	prob("grayscale", r.Grayscale)
	if channels != 0 && channels != 1 && channels != 3 && r.Grayscale > 0 {
		bad("grayscale needs 1- or 3-channel images, not %d; set it to 0", channels)
	}
	if b := r.Blur; b != nil {
		prob("blur", b.P)
		s := b.sigma()
		if !(s[0] > 0 && s[0] <= s[1]) || math.IsInf(s[1], 0) {
			bad("blur sigma %v: want 0 < min <= max", s)
		}
		if b.Kernel < 0 {
			bad("blur kernel %d is negative; use 0 for automatic", b.Kernel)
		}
	}
	if s := r.Solarize; s != nil {
		prob("solarize", s.P)
		if !(s.Threshold >= 0 && s.Threshold <= 1) {
			bad("solarize threshold %v: want [0, 1]", s.Threshold)
		}
	}
	if n := r.Normalize; n != nil {
		if len(n.Mean) == 0 || len(n.Mean) != len(n.Std) {
			bad("normalize: %d means and %d stds; give one of each per channel (or one for all)", len(n.Mean), len(n.Std))
		} else if channels != 0 && len(n.Mean) != 1 && len(n.Mean) != channels {
			bad("normalize: %d means for %d-channel images", len(n.Mean), channels)
		}
		for _, s := range n.Std {
			if !(s > 0) {
				bad("normalize: std %v must be > 0", s)
			}
		}
	}
	if r.Turns < 0 || r.Turns > 4 || (r.Turns > 0 && !r.Rotate) {
		bad("turns %d: want 1 to 4 (0° to 270°) with rotate, or 0", r.Turns)
	}
	if err := errors.Join(errs...); err != nil {
		name := r.Name
		if name == "" {
			name = "(unnamed)"
		}
		return fmt.Errorf("augment: recipe %s: %w", name, err)
	}
	return nil
}

// ParseRecipe reads a recipe from YAML. Unknown fields are errors, so a
// typo does not silently switch an op off.
func ParseRecipe(b []byte) (Recipe, error) {
	var r Recipe
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return Recipe{}, fmt.Errorf("augment: parse recipe: %w; see the fields of augment.Recipe (selfsup augment --print NAME shows one)", err)
	}
	if err := r.Validate(0); err != nil {
		return Recipe{}, err
	}
	return r, nil
}

// LoadRecipe reads a recipe from a YAML file.
func LoadRecipe(path string) (Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Recipe{}, fmt.Errorf("augment: load recipe: %w", err)
	}
	r, err := ParseRecipe(b)
	if err != nil {
		return Recipe{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// YAML returns the recipe as YAML that ParseRecipe reads back.
func (r Recipe) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("augment: encode recipe %s: %w", r.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("augment: encode recipe %s: %w", r.Name, err)
	}
	return buf.Bytes(), nil
}

// Clone returns a deep copy, safe to edit.
func (r Recipe) Clone() Recipe {
	if r.Crop != nil {
		c := *r.Crop
		r.Crop = &c
	}
	if r.Jitter != nil {
		j := *r.Jitter
		r.Jitter = &j
	}
	if r.Blur != nil {
		b := *r.Blur
		r.Blur = &b
	}
	if r.Solarize != nil {
		s := *r.Solarize
		r.Solarize = &s
	}
	if r.Normalize != nil {
		n := Normalize{Mean: append([]float64(nil), r.Normalize.Mean...), Std: append([]float64(nil), r.Normalize.Std...)}
		r.Normalize = &n
	}
	return r
}
