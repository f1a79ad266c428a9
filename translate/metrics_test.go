package translate

import (
	"math"
	"testing"
)

// TestCompare: identical images score L1 0, PSNR +Inf, SSIM 1; a fixed
// pair scores what a NumPy transcription of the same definitions gives
// (L1 and PSNR on [0, 1]; SSIM with an 11×11 σ 1.5 Gaussian window over
// the valid positions, C1 = 1e-4, C2 = 9e-4, averaged over channels).
func TestCompare(t *testing.T) {
	const s = 16
	x, y := make([]float32, 3*s*s), make([]float32, 3*s*s)
	for c := range 3 {
		for i := range s {
			for j := range s {
				v := float64((7*c+3*i+5*j)%17)/8.5 - 1
				x[c*s*s+i*s+j] = float32(v)
				y[c*s*s+i*s+j] = float32(v*0.8 + 0.1*math.Sin(float64(i+j)))
			}
		}
	}
	same, err := Compare(x, x, s)
	if err != nil {
		t.Fatal(err)
	}
	if same.L1 != 0 || !math.IsInf(same.PSNR, 1) || math.Abs(same.SSIM-1) > 1e-12 {
		t.Errorf("identical images: %+v", same)
	}
	got, err := Compare(x, y, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"L1", got.L1, 0.0566805505}, {"PSNR", got.PSNR, 23.3144071556}, {"SSIM", got.SSIM, 0.9655988895}} {
		if math.Abs(c.got-c.want) > 1e-6*(1+math.Abs(c.want)) {
			t.Errorf("%s = %.10f, NumPy %.10f", c.name, c.got, c.want)
		}
	}
	if _, err := Compare(x, y[:10], s); err == nil {
		t.Error("images of different sizes compared")
	}
}
