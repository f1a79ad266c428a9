package data

import (
	"fmt"
)

// Unlabeled is the label of an image that has none.
const Unlabeled = -1

// Dataset is N images of C×H×W uint8 pixels, channels-first, with
// optional labels. The zero value is an empty data set.
//
// Pixels holds N×C×H×W bytes: image i starts at i*C*H*W, and within an
// image channel c, row y, column x is at c*H*W + y*W + x.
// Labels is nil for an unlabeled set; otherwise it has N entries, each
// in [0, len(Classes)) or Unlabeled.
type Dataset struct {
	Name    string   // human name, e.g. "fashion-mnist/train"
	N       int      // number of images
	C, H, W int      // channels (1 or 3), height, width
	Pixels  []uint8  // N×C×H×W, channels-first
	Labels  []int    // nil when unlabeled, else N labels
	Classes []string // class names; Labels index into it
}

// Len returns the number of images.
func (d *Dataset) Len() int { return d.N }

// ImageSize returns the number of bytes of one image, C×H×W.
func (d *Dataset) ImageSize() int { return d.C * d.H * d.W }

// Labeled reports whether the data set has labels.
func (d *Dataset) Labeled() bool { return d.Labels != nil }

// Image returns the pixels of image i, C×H×W, as a slice that shares
// memory with the data set; copy it before changing it.
// It panics if i is out of range, like a slice index.
func (d *Dataset) Image(i int) []uint8 {
	n := d.ImageSize()
	return d.Pixels[i*n : (i+1)*n : (i+1)*n]
}

// Label returns the label of image i, or Unlabeled when the set has none.
func (d *Dataset) Label(i int) int {
	if d.Labels == nil {
		return Unlabeled
	}
	return d.Labels[i]
}

// Batch appends the pixels of the images at indices to pixels and their
// labels to labels, and returns both. Pass the slices of the previous
// call, resliced to length 0, to reuse their memory.
// The pixels come out as len(indices)×C×H×W.
func (d *Dataset) Batch(indices []int, pixels []uint8, labels []int) ([]uint8, []int, error) {
	for _, i := range indices {
		if i < 0 || i >= d.N {
			return pixels, labels, fmt.Errorf("data: %s: index %d out of range [0, %d)", d.Name, i, d.N)
		}
		pixels = append(pixels, d.Image(i)...)
		labels = append(labels, d.Label(i))
	}
	return pixels, labels, nil
}

// Validate checks that the shape, pixel count, labels and classes agree.
func (d *Dataset) Validate() error {
	switch {
	case d.N < 0 || d.C < 0 || d.H < 0 || d.W < 0:
		return fmt.Errorf("data: %s: negative shape %d×%d×%d×%d", d.Name, d.N, d.C, d.H, d.W)
	case len(d.Pixels) != d.N*d.ImageSize():
		return fmt.Errorf("data: %s: %d pixel bytes, want N×C×H×W = %d×%d×%d×%d = %d",
			d.Name, len(d.Pixels), d.N, d.C, d.H, d.W, d.N*d.ImageSize())
	case d.Labels != nil && len(d.Labels) != d.N:
		return fmt.Errorf("data: %s: %d labels for %d images", d.Name, len(d.Labels), d.N)
	}
	for i, l := range d.Labels {
		if l != Unlabeled && (l < 0 || l >= len(d.Classes)) {
			return fmt.Errorf("data: %s: image %d has label %d, want [0, %d) or %d",
				d.Name, i, l, len(d.Classes), Unlabeled)
		}
	}
	return nil
}
