package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFashionMNIST(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed (%v); apt-get install dataset-fashion-mnist", err)
	}
	tests := []struct {
		split Split
		n     int
	}{
		{Train, 60000},
		{Test, 10000},
	}
	for _, tt := range tests {
		t.Run(string(tt.split), func(t *testing.T) {
			if testing.Short() && tt.split == Train {
				t.Skip("train split skipped in -short mode")
			}
			d, err := LoadFashionMNIST("", tt.split)
			if err != nil {
				t.Fatal(err)
			}
			if d.N != tt.n || d.C != 1 || d.H != 28 || d.W != 28 || len(d.Pixels) != tt.n*28*28 {
				t.Fatalf("shape %d×%d×%d×%d with %d bytes, want %d×1×28×28", d.N, d.C, d.H, d.W, len(d.Pixels), tt.n)
			}
			counts := make([]int, 10)
			for _, l := range d.Labels {
				counts[l]++
			}
			for c, k := range counts {
				if k != tt.n/10 { // Fashion-MNIST is balanced
					t.Errorf("class %d (%s) has %d images, want %d", c, d.Classes[c], k, tt.n/10)
				}
			}
			var sum int
			for _, p := range d.Pixels {
				sum += int(p)
			}
			// The mean pixel of Fashion-MNIST is about 0.286×255 ≈ 73.
			if mean := float64(sum) / float64(len(d.Pixels)); mean < 65 || mean > 80 {
				t.Errorf("mean pixel %.1f, want about 73", mean)
			}
		})
	}
}

// writeFashion writes a tiny Fashion-MNIST test split to dir.
func writeFashion(t *testing.T, dir string, nImages, nLabels int, label byte) {
	t.Helper()
	imgs := &IDX{Type: IDXUint8, Dims: []int{nImages, 28, 28}, Data: make([]byte, nImages*28*28)}
	lbls := &IDX{Type: IDXUint8, Dims: []int{nLabels}, Data: make([]byte, nLabels)}
	for i := range lbls.Data {
		lbls.Data[i] = label
	}
	writeFile(t, dir, "t10k-images-idx3-ubyte.gz", gzipBytes(t, idxBytes(t, imgs)))
	writeFile(t, dir, "t10k-labels-idx1-ubyte", idxBytes(t, lbls)) // plain also works
}

func TestLoadFashionMNISTErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		split Split
		want  []string
	}{
		{"missing", func(*testing.T, string) {}, Test,
			[]string{"t10k-images-idx3-ubyte.gz", "apt-get install dataset-fashion-mnist"}},
		{"count mismatch", func(t *testing.T, dir string) { writeFashion(t, dir, 5, 4, 1) }, Test,
			[]string{"5 images", "4 labels"}},
		{"bad label", func(t *testing.T, dir string) { writeFashion(t, dir, 3, 3, 10) }, Test,
			[]string{"t10k-labels-idx1-ubyte", "label 10"}},
		{"unknown split", func(*testing.T, string) {}, "validation",
			[]string{"unknown split"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := LoadFashionMNIST(dir, tt.split)
			if err == nil {
				t.Fatal("no error, want one")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadFashionMNISTSynthetic(t *testing.T) {
	dir := t.TempDir()
	writeFashion(t, dir, 3, 3, 9)
	d, err := LoadFashionMNIST(dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || d.Label(2) != 9 || d.Classes[9] != "Ankle boot" {
		t.Errorf("got %d images, label %d, class %q", d.N, d.Label(2), d.Classes[9])
	}
}
