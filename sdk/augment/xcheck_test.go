package augment

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
)

func dump(t *testing.T, dir, name string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTorchvisionCrossCheck compares the ops with torchvision 0.14 on the
// same parameters (crop boxes and flips from a pipeline, fixed factors for
// the colour ops and blur). Set SELFSUP_XCHECK=1 with python3-torch and
// python3-torchvision installed to run it (SELFSUP_PYTHON names another
// interpreter).
func TestTorchvisionCrossCheck(t *testing.T) {
	if os.Getenv("SELFSUP_XCHECK") == "" {
		t.Skip("set SELFSUP_XCHECK=1 (needs python3 with torch and torchvision)")
	}
	dir := t.TempDir()
	x := randomU8(t, 1, 64, 3, 28, 28)
	defer x.MustDrop()
	xf := x.MustTotype(gotch.Float, false).MustDivScalar(scalar(255), true)
	defer xf.MustDrop()
	dump(t, dir, "x.bin", values(t, xf))
	res, err := single(t, Recipe{Size: 20, Crop: &Crop{Scale: [2]float64{0.1, 1}}, Flip: 0.5}).Augment(ctx, Request{Images: x, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	dump(t, dir, "crop.bin", values(t, res.Views[0].Images))
	dump(t, dir, "boxes.bin", values(t, res.Views[0].Boxes))
	res.Drop()
	a := newArena(gotch.CPU)
	defer a.close()
	f := make([]float64, 64)
	h := make([]float64, 64)
	for i := range f {
		f[i] = 0.2 + 1.6*float64(i)/63
		h[i] = -0.5 + float64(i)/63
	}
	all := allIndices(64)
	dump(t, dir, "bright.bin", values(t, a.brightness(xf, a.perSample(f, all))))
	dump(t, dir, "contrast.bin", values(t, a.contrast(xf, a.perSample(f, all))))
	dump(t, dir, "sat.bin", values(t, a.saturation(xf, a.perSample(f, all))))
	dump(t, dir, "hue.bin", values(t, a.hue(xf, a.perSample(h, all))))
	dump(t, dir, "blend_contrast.bin", values(t, a.colourBlend(xf, blendCoefs{a: f, b: make([]float64, 64), c: func() []float64 {
		c := make([]float64, 64)
		for i := range c {
			c[i] = 1 - f[i]
		}
		return c
	}(), any: true, mean: true})))
	dump(t, dir, "gray.bin", values(t, a.grayscale(xf)))
	dump(t, dir, "solar.bin", values(t, a.solarize(xf, 0.5)))
	dump(t, dir, "blur.bin", values(t, a.blur(xf, f, 7)))

	python := os.Getenv("SELFSUP_PYTHON")
	if python == "" {
		python = "/usr/bin/python3" // Debian's, where python3-torch installs
	}
	out, err := exec.Command(python, "testdata/xcheck_torchvision.py", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%s testdata/xcheck_torchvision.py: %v\n%s", python, err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		d, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("unexpected line %q", line)
		}
		t.Logf("%s", line)
		if d > 1e-5 {
			t.Errorf("%s: differs from torchvision by %g", f[0], d)
		}
	}
}
