package data

import (
	"fmt"
	"slices"
)

// Subset returns a new data set of the images at indices, in that order,
// with copied pixels and labels. Indices may repeat.
func (d *Dataset) Subset(indices []int) (*Dataset, error) {
	out := &Dataset{
		Name:    d.Name,
		N:       len(indices),
		C:       d.C,
		H:       d.H,
		W:       d.W,
		Pixels:  make([]uint8, 0, len(indices)*d.ImageSize()),
		Classes: d.Classes,
	}
	var labels []int
	if d.Labels != nil {
		labels = make([]int, 0, len(indices))
	}
	pixels, labels, err := d.Batch(indices, out.Pixels, labels)
	if err != nil {
		return nil, fmt.Errorf("data: subset: %w", err)
	}
	out.Pixels, out.Labels = pixels, labels
	return out, nil
}

// Head returns a new data set of the first n images (all of them when n
// exceeds the length), for quick tests and smoke runs.
func (d *Dataset) Head(n int) (*Dataset, error) {
	if n < 0 {
		return nil, fmt.Errorf("data: %s: head of %d images; pass n >= 0", d.Name, n)
	}
	n = min(n, d.N)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	out, err := d.Subset(idx)
	if err != nil {
		return nil, err
	}
	out.Name = fmt.Sprintf("%s[:%d]", d.Name, n)
	return out, nil
}

// Split divides the data set at random into two parts: the first holds
// round(fraction×N) images, the second the rest. Each part keeps the
// original order of its images. The same seed gives the same parts.
func (d *Dataset) Split(fraction float64, seed uint64) (first, rest *Dataset, err error) {
	if !(fraction >= 0 && fraction <= 1) {
		return nil, nil, fmt.Errorf("data: %s: split fraction %v; pass a fraction in [0, 1]", d.Name, fraction)
	}
	perm := Permutation(d.N, seed, 0)
	k := int(fraction*float64(d.N) + 0.5)
	a, b := slices.Clone(perm[:k]), slices.Clone(perm[k:])
	slices.Sort(a)
	slices.Sort(b)
	if first, err = d.Subset(a); err != nil {
		return nil, nil, err
	}
	if rest, err = d.Subset(b); err != nil {
		return nil, nil, err
	}
	first.Name = fmt.Sprintf("%s/split-%d-of-2", d.Name, 1)
	rest.Name = fmt.Sprintf("%s/split-%d-of-2", d.Name, 2)
	return first, rest, nil
}
