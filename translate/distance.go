package translate

import (
	"fmt"
	"math"
)

// FrechetDistance is the Fréchet distance between Gaussians fitted to two
// sets of feature rows (FID's formula, on whatever features are given):
// ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½), the covariances unbiased (n − 1)
// as numpy.cov. The trace of the square root is Σ √λ over the eigenvalues
// of √Σa Σb √Σa, symmetric, so it needs only symmetric eigensolves.
func FrechetDistance(a, b [][]float64) (float64, error) {
	if len(a) < 2 || len(b) < 2 || len(a[0]) != len(b[0]) {
		return 0, fmt.Errorf("translate: Fréchet distance of %d and %d rows: want ≥ 2 rows of one width each", len(a), len(b))
	}
	ma, ca := meanCov(a)
	mb, cb := meanCov(b)
	d := len(ma)
	var dist float64
	for i := range d {
		dist += (ma[i] - mb[i]) * (ma[i] - mb[i])
		dist += ca[i*d+i] + cb[i*d+i]
	}
	vals, vecs := eigSym(ca, d)
	sq := make([]float64, d*d) // √Σa = V diag(√λ) Vᵀ
	for i := range d {
		for j := range d {
			var s float64
			for k := range d {
				s += vecs[i*d+k] * math.Sqrt(max(vals[k], 0)) * vecs[j*d+k]
			}
			sq[i*d+j] = s
		}
	}
	m := matMul(matMul(sq, cb, d), sq, d)
	mv, _ := eigSym(m, d)
	for _, v := range mv {
		dist -= 2 * math.Sqrt(max(v, 0))
	}
	return dist, nil
}

// KID is the kernel inception distance's estimator on the given features:
// the unbiased MMD² between the two sets with the cubic polynomial kernel
// k(x, y) = (xᵀy/d + 1)³.
func KID(a, b [][]float64) (float64, error) {
	if len(a) < 2 || len(b) < 2 || len(a[0]) != len(b[0]) {
		return 0, fmt.Errorf("translate: KID of %d and %d rows: want ≥ 2 rows of one width each", len(a), len(b))
	}
	d := float64(len(a[0]))
	k := func(x, y []float64) float64 {
		var s float64
		for i := range x {
			s += x[i] * y[i]
		}
		v := s/d + 1
		return v * v * v
	}
	within := func(x [][]float64) float64 {
		var s float64
		for i := range x {
			for j := range x {
				if i != j {
					s += k(x[i], x[j])
				}
			}
		}
		return s / float64(len(x)*(len(x)-1))
	}
	var cross float64
	for i := range a {
		for j := range b {
			cross += k(a[i], b[j])
		}
	}
	return within(a) + within(b) - 2*cross/float64(len(a)*len(b)), nil
}

// meanCov is the rows' mean and their unbiased covariance (d×d,
// row-major).
func meanCov(x [][]float64) ([]float64, []float64) {
	n, d := len(x), len(x[0])
	mu := make([]float64, d)
	for _, r := range x {
		for i, v := range r {
			mu[i] += v / float64(n)
		}
	}
	c := make([]float64, d*d)
	for _, r := range x {
		for i := range d {
			di := r[i] - mu[i]
			for j := i; j < d; j++ {
				c[i*d+j] += di * (r[j] - mu[j])
			}
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			c[i*d+j] /= float64(n - 1)
			c[j*d+i] = c[i*d+j]
		}
	}
	return mu, c
}

func matMul(a, b []float64, d int) []float64 {
	out := make([]float64, d*d)
	for i := range d {
		for k := range d {
			aik := a[i*d+k]
			for j := range d {
				out[i*d+j] += aik * b[k*d+j]
			}
		}
	}
	return out
}

// eigSym returns the eigenvalues and eigenvectors (columns of the
// row-major d×d result) of the symmetric matrix s by cyclic Jacobi
// rotations.
func eigSym(s []float64, d int) ([]float64, []float64) {
	a := append([]float64(nil), s...)
	v := make([]float64, d*d)
	for i := range d {
		v[i*d+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off, norm float64
		for i := range d {
			for j := range d {
				if i != j {
					off += a[i*d+j] * a[i*d+j]
				}
				norm += a[i*d+j] * a[i*d+j]
			}
		}
		if off <= 1e-30*norm || off == 0 {
			break
		}
		for p := 0; p < d-1; p++ {
			for q := p + 1; q < d; q++ {
				apq := a[p*d+q]
				if apq == 0 {
					continue
				}
				theta := (a[q*d+q] - a[p*d+p]) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				sn := t * c
				for k := range d { // A ← Jᵀ A J
					akp, akq := a[k*d+p], a[k*d+q]
					a[k*d+p], a[k*d+q] = c*akp-sn*akq, sn*akp+c*akq
				}
				for k := range d {
					apk, aqk := a[p*d+k], a[q*d+k]
					a[p*d+k], a[q*d+k] = c*apk-sn*aqk, sn*apk+c*aqk
				}
				for k := range d { // V ← V J
					vkp, vkq := v[k*d+p], v[k*d+q]
					v[k*d+p], v[k*d+q] = c*vkp-sn*vkq, sn*vkp+c*vkq
				}
			}
		}
	}
	vals := make([]float64, d)
	for i := range d {
		vals[i] = a[i*d+i]
	}
	return vals, v
}
