package data

import (
	"slices"
	"testing"
)

// tiny returns a labelled 1×2×2 data set of n images whose pixels all
// equal the image index.
func tiny(n int) *Dataset {
	d := &Dataset{Name: "tiny", N: n, C: 1, H: 2, W: 2, Classes: []string{"even", "odd"}}
	for i := range n {
		d.Pixels = append(d.Pixels, uint8(i), uint8(i), uint8(i), uint8(i))
		d.Labels = append(d.Labels, i%2)
	}
	return d
}

func TestDatasetBatch(t *testing.T) {
	d := tiny(5)
	pix, lbl, err := d.Batch([]int{4, 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pix, []uint8{4, 4, 4, 4, 1, 1, 1, 1}) || !slices.Equal(lbl, []int{0, 1}) {
		t.Errorf("batch pixels %v labels %v", pix, lbl)
	}
	if _, _, err := d.Batch([]int{5}, nil, nil); err == nil {
		t.Error("index 5 of 5: no error, want one")
	}
	unlabeled := &Dataset{N: 1, C: 1, H: 1, W: 1, Pixels: []uint8{9}}
	if _, lbl, _ := unlabeled.Batch([]int{0}, nil, nil); lbl[0] != Unlabeled {
		t.Errorf("unlabeled image has label %d, want %d", lbl[0], Unlabeled)
	}
}

func TestDatasetValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *Dataset)
		ok     bool
	}{
		{"good", func(*Dataset) {}, true},
		{"unlabeled", func(d *Dataset) { d.Labels = nil }, true},
		{"short pixels", func(d *Dataset) { d.Pixels = d.Pixels[1:] }, false},
		{"short labels", func(d *Dataset) { d.Labels = d.Labels[1:] }, false},
		{"label past classes", func(d *Dataset) { d.Labels[0] = 2 }, false},
		{"explicit unlabeled", func(d *Dataset) { d.Labels[0] = Unlabeled }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tiny(3)
			tt.mutate(d)
			if err := d.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDatasetSubsetHeadSplit(t *testing.T) {
	d := tiny(10)
	sub, err := d.Subset([]int{3, 3, 7})
	if err != nil {
		t.Fatal(err)
	}
	if sub.N != 3 || sub.Image(2)[0] != 7 || sub.Label(0) != 1 {
		t.Errorf("subset: %d images, image 2 = %v, label 0 = %d", sub.N, sub.Image(2), sub.Label(0))
	}
	sub.Pixels[0] = 99
	if d.Image(3)[0] != 3 {
		t.Error("subset shares pixels with its source")
	}

	tests := []struct{ n, want int }{{0, 0}, {4, 4}, {10, 10}, {50, 10}}
	for _, tt := range tests {
		h, err := d.Head(tt.n)
		if err != nil || h.N != tt.want || h.Validate() != nil {
			t.Errorf("Head(%d): %v, %d images, want %d", tt.n, err, h.N, tt.want)
		}
	}

	a, b, err := d.Split(0.8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.N != 8 || b.N != 2 {
		t.Fatalf("split 0.8 of 10 gave %d + %d", a.N, b.N)
	}
	a2, _, _ := d.Split(0.8, 1)
	if !slices.Equal(a.Pixels, a2.Pixels) {
		t.Error("same seed gives different splits")
	}
	var all []int
	for _, part := range []*Dataset{a, b} {
		for i := range part.N {
			all = append(all, int(part.Image(i)[0]))
		}
	}
	if slices.Sort(all); !slices.Equal(all, seq(10)) {
		t.Errorf("split parts hold %v, want each image once", all)
	}
	for _, f := range []float64{-0.1, 1.5} {
		if _, _, err := d.Split(f, 1); err == nil {
			t.Errorf("Split(%v): no error, want one", f)
		}
	}
}
