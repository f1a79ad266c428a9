package augment

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Sizes at which the built-in recipes change character.
const (
	// smallSide is the largest side treated as small (CIFAR-, MNIST-sized)
	// data: milder crops and jitter, and no Gaussian blur, as the SimCLR
	// and MoCo papers do for CIFAR.
	smallSide = 64
	// paperSide is the side the papers' recipes are written for
	// (ImageNet at 224); blur widths and DINO's local crops scale from it.
	paperSide = 224
)

// builtins maps each built-in recipe name to the function that makes it for
// a data size and channel count.
func builtins() map[string]func(size, channels int) Recipe {
	return map[string]func(size, channels int) Recipe{
		"simclr":       simclr,
		"mocov2":       mocov2,
		"byol1":        func(size, ch int) Recipe { return byol(size, ch, 1) },
		"byol2":        func(size, ch int) Recipe { return byol(size, ch, 2) },
		"dino-global":  func(size, ch int) Recipe { return dinoGlobal(size, ch, 1) },
		"dino-global2": func(size, ch int) Recipe { return dinoGlobal(size, ch, 2) },
		"dino-local":   dinoLocal,
		"curl-crop":    curlCrop,
		"identity":     identity,
		"rotation":     rotation,
		"rotation-0":   func(size, ch int) Recipe { return rotationBy(size, ch, 0) },
		"rotation-90":  func(size, ch int) Recipe { return rotationBy(size, ch, 1) },
		"rotation-180": func(size, ch int) Recipe { return rotationBy(size, ch, 2) },
		"rotation-270": func(size, ch int) Recipe { return rotationBy(size, ch, 3) },
		"cpcv2":        cpcv2,
		"cpcv2-patch":  cpcv2Patch,
	}
}

// Recipes returns the names of the built-in recipes, sorted.
func Recipes() []string {
	var names []string
	for n := range builtins() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Builtin returns the built-in recipe name for images of size×size pixels
// with the given number of channels. The papers' recipes are written for
// 224-pixel RGB images; Builtin scales them to the data:
//   - sizes up to 64 (Fashion-MNIST, CIFAR) get the small-image variants
//     the papers and the PyTorch reference use (crop scale from 0.2,
//     jitter strength 0.5, no blur);
//   - blur widths scale with size/224, DINO's local crops are 96/224 of
//     the side, CURL's crop is 84/100 of it;
//   - saturation, hue and grayscale are dropped for images that are not
//     RGB (torchvision leaves 1-channel images alone there too);
//   - 1-channel views are normalised with Fashion-MNIST's statistics,
//     RGB views with ImageNet's, others are left in [0, 1].
func Builtin(name string, size, channels int) (Recipe, error) {
	mk, ok := builtins()[name]
	if !ok {
		return Recipe{}, fmt.Errorf("augment: no built-in recipe %q; use one of %s, or load your own from YAML", name, strings.Join(Recipes(), ", "))
	}
	if size <= 0 || channels <= 0 {
		return Recipe{}, fmt.Errorf("augment: recipe %s for %d-channel images of side %d; give the data's positive side and channel count", name, channels, size)
	}
	r := mk(size, channels)
	r.Name = name
	if channels != 3 {
		r.Grayscale = 0
		if r.Jitter != nil {
			r.Jitter.Saturation, r.Jitter.Hue = 0, 0
			if channels != 1 {
				r.Jitter.Contrast = 0
			}
		}
	}
	if err := r.Validate(channels); err != nil {
		return Recipe{}, fmt.Errorf("augment: built-in %w", err)
	}
	return r, nil
}

// normalizeFor returns the default normalisation of channels-channel data.
func normalizeFor(channels int) *Normalize {
	switch channels {
	case 1:
		return &Normalize{Mean: []float64{FashionMNISTMean}, Std: []float64{FashionMNISTStd}}
	case 3:
		return &Normalize{Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}
	}
	return nil
}

// blurFor returns a Gaussian blur with probability p scaled to a view of
// side size (sigma 0.1 to 2 and a 23-pixel kernel at 224, as SimCLR's
// tenth of the side made odd), or nil for small views.
func blurFor(size int, p float64) *Blur {
	if size <= smallSide || p == 0 {
		return nil
	}
	f := float64(size) / paperSide
	return &Blur{P: p, Sigma: [2]float64{0.1 * f, 2 * f}, Kernel: max(3, size/10) | 1}
}

// scaled returns round(size*num/den), at least 1.
func scaled(size, num, den int) int {
	return max(1, int(math.Round(float64(size)*float64(num)/float64(den))))
}

// simclr is SimCLR's recipe (Chen et al. 2020, appendix A): random resized
// crop, flip, colour jitter of strength s with p 0.8, grayscale p 0.2, blur
// p 0.5 on large images. Small images use s = 0.5 and crop scale from 0.2
// (the PyTorch reference's Fashion-MNIST recipe).
func simclr(size, channels int) Recipe {
	s, minScale := 1.0, 0.08
	if size <= smallSide {
		s, minScale = 0.5, 0.2
	}
	return Recipe{
		Size:      size,
		Crop:      &Crop{Scale: [2]float64{minScale, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}},
		Flip:      0.5,
		Jitter:    &Jitter{P: 0.8, Brightness: 0.8 * s, Contrast: 0.8 * s, Saturation: 0.8 * s, Hue: 0.2 * s},
		Grayscale: 0.2,
		Blur:      blurFor(size, 0.5),
		Normalize: normalizeFor(channels),
	}
}

// mocov2 is MoCo v2's recipe (Chen et al. 2020b): crop scale from 0.2,
// jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2, blur p 0.5,
// flip.
func mocov2(size, channels int) Recipe {
	return Recipe{
		Size:      size,
		Crop:      &Crop{Scale: [2]float64{0.2, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}},
		Flip:      0.5,
		Jitter:    &Jitter{P: 0.8, Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		Grayscale: 0.2,
		Blur:      blurFor(size, 0.5),
		Normalize: normalizeFor(channels),
	}
}

// byol is one of BYOL's two asymmetric views (Grill et al. 2020, table 6):
// crop, flip, jitter (0.4, 0.4, 0.2, 0.1) with p 0.8, grayscale p 0.2;
// view 1 always blurs and never solarizes, view 2 blurs with p 0.1 and
// solarizes with p 0.2.
func byol(size, channels, view int) Recipe {
	minScale := 0.08
	if size <= smallSide {
		minScale = 0.2
	}
	r := Recipe{
		Size:      size,
		Crop:      &Crop{Scale: [2]float64{minScale, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}},
		Flip:      0.5,
		Jitter:    &Jitter{P: 0.8, Brightness: 0.4, Contrast: 0.4, Saturation: 0.2, Hue: 0.1},
		Grayscale: 0.2,
		Normalize: normalizeFor(channels),
	}
	if view == 1 {
		r.Blur = blurFor(size, 1)
	} else {
		r.Blur = blurFor(size, 0.1)
		r.Solarize = &Solarize{P: 0.2, Threshold: 0.5}
	}
	return r
}

// dinoGlobal is one of DINO's two global crops (Caron et al. 2021): crop
// scale 0.4 to 1 at full size, flip, jitter (0.4, 0.4, 0.2, 0.1) with p 0.8,
// grayscale p 0.2; the first always blurs, the second blurs with p 0.1 and
// solarizes with p 0.2.
func dinoGlobal(size, channels, view int) Recipe {
	r := byol(size, channels, view)
	r.Crop.Scale = [2]float64{0.4, 1}
	return r
}

// dinoLocal is DINO's local crop: crop scale 0.05 to 0.4 resized to 96/224
// of the side, flip, the same jitter and grayscale, blur p 0.5.
func dinoLocal(size, channels int) Recipe {
	r := byol(size, channels, 1)
	r.Size = scaled(size, 96, paperSide)
	r.Crop.Scale = [2]float64{0.05, 0.4}
	r.Blur = blurFor(size, 0.5)
	return r
}

// curlCrop is CURL's random crop for RL frames (Laskin et al. 2020): an
// 84×84 window of a 100×100 frame (84/100 of the side) at a random offset,
// no resizing, pixels in [0, 1] (CURL only divides by 255).
func curlCrop(size, _ int) Recipe {
	return Recipe{Size: scaled(size, 84, 100), Crop: &Crop{Fixed: true}}
}

// identity is no augmentation: the image, normalised.
func identity(size, channels int) Recipe {
	return Recipe{Size: size, Normalize: normalizeFor(channels)}
}

// rotation turns each image by a random multiple of 90° and reports it as
// the pseudo-label "rotation" (RotNet-style pretext tasks).
func rotation(size, channels int) Recipe {
	return Recipe{Size: size, Rotate: true, Normalize: normalizeFor(channels)}
}

// rotationBy turns every image by quarter quarter-turns (the fixed
// rotations of RotNet's four copies of each image), labelled "rotation".
func rotationBy(size, channels, quarter int) Recipe {
	return Recipe{Size: size, Rotate: true, Turns: quarter + 1, Normalize: normalizeFor(channels)}
}

// cpcv2 is the image-level part of CPC v2's augmentation (Hénaff et al.
// 2019), before the image is cut into its grid of patches: a random
// resized crop (scale 0.6 to 1; the patches must keep enough of the
// object to predict one another) and a flip. Pixels stay in [0, 1]:
// cpcv2-patch augments and normalises each patch.
func cpcv2(size, _ int) Recipe {
	return Recipe{
		Size: size,
		Crop: &Crop{Scale: [2]float64{0.6, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}},
		Flip: 0.5,
	}
}

// cpcv2Patch is CPC v2's per-patch augmentation at the patch's size: each
// patch jitters and drops colour on its own (jitter 0.4, 0.4, 0.4, 0.1 with
// p 0.8, grayscale p 0.2; only brightness and contrast for 1-channel
// images), then is normalised.
func cpcv2Patch(size, channels int) Recipe {
	return Recipe{
		Size:      size,
		Jitter:    &Jitter{P: 0.8, Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		Grayscale: 0.2,
		Normalize: normalizeFor(channels),
	}
}
