package translate

import (
	"fmt"
	"math"
)

// Scores compare a translation with its truth, both CHW RGB in [−1, 1]
// mapped to [0, 1]: the mean absolute error, PSNR (dB, data range 1) and
// SSIM.
type Scores struct {
	L1, PSNR, SSIM float64
}

// Compare scores got against want, two CHW images of side size.
func Compare(got, want []float32, size int) (Scores, error) {
	if len(got) != len(want) || len(got) != 3*size*size {
		return Scores{}, fmt.Errorf("translate: compare %d and %d values as 3×%d×%d images", len(got), len(want), size, size)
	}
	var l1, se float64
	a, b := make([]float64, len(got)), make([]float64, len(got))
	for i := range got {
		a[i], b[i] = (float64(got[i])+1)/2, (float64(want[i])+1)/2
		d := a[i] - b[i]
		l1 += math.Abs(d)
		se += d * d
	}
	n := float64(len(got))
	s := Scores{L1: l1 / n, PSNR: math.Inf(1)}
	if se > 0 {
		s.PSNR = 10 * math.Log10(1/(se/n))
	}
	plane := size * size
	for c := range 3 {
		s.SSIM += ssim(a[c*plane:(c+1)*plane], b[c*plane:(c+1)*plane], size) / 3
	}
	return s, nil
}

// ssim is Wang et al.'s structural similarity of two single-channel images
// with values in [0, 1]: an 11×11 Gaussian window (σ 1.5) over every
// position where it fits whole (the reference implementation's 'valid'
// filtering), C1 = (0.01)², C2 = (0.03)², averaged over the positions.
// Images smaller than the window use one window as large as the image.
func ssim(x, y []float64, size int) float64 {
	const c1, c2 = 0.01 * 0.01, 0.03 * 0.03
	k := min(11, size)
	w := gaussian(k, 1.5)
	var total float64
	var count int
	for i := 0; i+k <= size; i++ {
		for j := 0; j+k <= size; j++ {
			var mx, my float64
			for u := range k {
				for v := range k {
					p := (i+u)*size + j + v
					mx += w[u*k+v] * x[p]
					my += w[u*k+v] * y[p]
				}
			}
			var vx, vy, cxy float64
			for u := range k {
				for v := range k {
					p := (i+u)*size + j + v
					dx, dy := x[p]-mx, y[p]-my
					vx += w[u*k+v] * dx * dx
					vy += w[u*k+v] * dy * dy
					cxy += w[u*k+v] * dx * dy
				}
			}
			total += ((2*mx*my + c1) * (2*cxy + c2)) / ((mx*mx + my*my + c1) * (vx + vy + c2))
			count++
		}
	}
	return total / float64(count)
}

// gaussian is a k×k Gaussian window of standard deviation sigma, summing
// to 1.
func gaussian(k int, sigma float64) []float64 {
	w := make([]float64, k*k)
	var sum float64
	c := float64(k-1) / 2
	for u := range k {
		for v := range k {
			du, dv := float64(u)-c, float64(v)-c
			w[u*k+v] = math.Exp(-(du*du + dv*dv) / (2 * sigma * sigma))
			sum += w[u*k+v]
		}
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}
