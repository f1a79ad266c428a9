package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the gzipped IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Split names a standard part of a data set.
type Split string

// The standard splits.
const (
	Train Split = "train"
	Test  Split = "test"
)

// FashionMNISTClasses returns the ten Fashion-MNIST class names, by label.
func FashionMNISTClasses() []string {
	return []string{
		"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
	}
}

// fashionMNISTFiles returns the image and label file names of a split.
func fashionMNISTFiles(split Split) (images, labels string, err error) {
	switch split {
	case Train:
		return "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", nil
	case Test:
		return "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", nil
	}
	return "", "", fmt.Errorf("data: fashion-mnist: unknown split %q; use %q or %q", split, Train, Test)
}

// LoadFashionMNIST loads a Fashion-MNIST split from the IDX files in dir
// (DefaultFashionMNISTDir when dir is ""): 60000 training or 10000 test
// images of 1×28×28, labelled 0 to 9. Each file may be gzipped (the
// Debian layout, name ending in .gz) or plain (the same name without .gz).
func LoadFashionMNIST(dir string, split Split) (*Dataset, error) {
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	imgName, lblName, err := fashionMNISTFiles(split)
	if err != nil {
		return nil, err
	}
	imgs, err := readFashionMNISTFile(dir, imgName)
	if err != nil {
		return nil, err
	}
	lbls, err := readFashionMNISTFile(dir, lblName)
	if err != nil {
		return nil, err
	}
	imgPath, lblPath := filepath.Join(dir, imgName), filepath.Join(dir, lblName)
	if imgs.Type != IDXUint8 || len(imgs.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: IDX type 0x%02x with dimensions %v, want uint8 N×H×W images", imgPath, byte(imgs.Type), imgs.Dims)
	}
	if lbls.Type != IDXUint8 || len(lbls.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: IDX type 0x%02x with dimensions %v, want uint8 N labels", lblPath, byte(lbls.Type), lbls.Dims)
	}
	if imgs.Dims[0] != lbls.Dims[0] {
		return nil, fmt.Errorf("data: fashion-mnist %s: %s has %d images but %s has %d labels; the files do not belong together, reinstall dataset-fashion-mnist",
			split, imgPath, imgs.Dims[0], lblPath, lbls.Dims[0])
	}
	classes := FashionMNISTClasses()
	labels := make([]int, len(lbls.Data))
	for i, l := range lbls.Data {
		if int(l) >= len(classes) {
			return nil, fmt.Errorf("data: %s: label %d of image %d is not a Fashion-MNIST class (0-9); the file is corrupt", lblPath, l, i)
		}
		labels[i] = int(l)
	}
	d := &Dataset{
		Name:    "fashion-mnist/" + string(split),
		N:       imgs.Dims[0],
		C:       1,
		H:       imgs.Dims[1],
		W:       imgs.Dims[2],
		Pixels:  imgs.Data,
		Labels:  labels,
		Classes: classes,
	}
	return d, d.Validate()
}

// readFashionMNISTFile reads dir/name, or dir/name without ".gz" when
// only the plain file is there.
func readFashionMNISTFile(dir, name string) (*IDX, error) {
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		plain := path[:len(path)-len(".gz")]
		if _, perr := os.Stat(plain); perr == nil {
			path = plain
		} else {
			return nil, fmt.Errorf("data: fashion-mnist file %s is missing (%w); install it with `apt-get install dataset-fashion-mnist` (or `make setup`), or pass the folder that holds the IDX files", path, err)
		}
	}
	return ReadIDXFile(path)
}
