package translate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gaussianRows draws n rows of independent normals with the given means
// and standard deviations.
func gaussianRows(r *rand.Rand, n int, mu, sd []float64) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, len(mu))
		for j := range mu {
			out[i][j] = mu[j] + sd[j]*r.NormFloat64()
		}
	}
	return out
}

// TestFrechetDistance: 0 for one set against itself; for diagonal
// Gaussians the closed form Σ (μa−μb)² + (σa−σb)², within sampling error;
// and a rotation-invariant value (a full-covariance case).
func TestFrechetDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a := gaussianRows(r, 4000, []float64{0, 1, 2}, []float64{1, 2, 0.5})
	if d, err := FrechetDistance(a, a); err != nil || math.Abs(d) > 1e-9 {
		t.Errorf("a set against itself: %v, %v", d, err)
	}
	b := gaussianRows(r, 4000, []float64{1, 1, 0}, []float64{2, 1, 0.5})
	want := 1.0 + 0 + 4 + 1 + 1 + 0 // Σ Δμ² + Σ Δσ²
	d, err := FrechetDistance(a, b)
	if err != nil || math.Abs(d-want) > 0.25 {
		t.Errorf("diagonal Gaussians: %v, want about %v (%v)", d, want, err)
	}
	// rotating both sets by the same orthogonal map changes nothing
	rot := func(x [][]float64) [][]float64 {
		c, s := math.Cos(0.7), math.Sin(0.7)
		out := make([][]float64, len(x))
		for i, v := range x {
			out[i] = []float64{c*v[0] - s*v[1], s*v[0] + c*v[1], v[2]}
		}
		return out
	}
	dr, err := FrechetDistance(rot(a), rot(b))
	if err != nil || math.Abs(dr-d) > 1e-6*(1+d) {
		t.Errorf("rotated: %v, unrotated %v (%v)", dr, d, err)
	}
	if _, err := FrechetDistance(a[:1], b); err == nil {
		t.Error("one row accepted")
	}
}

// TestKID: near 0 (unbiased: either sign) for two samples of one
// distribution, clearly positive for different ones.
func TestKID(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mu, sd := []float64{0, 0, 0, 0}, []float64{1, 1, 1, 1}
	a, b := gaussianRows(r, 300, mu, sd), gaussianRows(r, 300, mu, sd)
	same, err := KID(a, b)
	if err != nil {
		t.Fatal(err)
	}
	c := gaussianRows(r, 300, []float64{1, 0, 0, 0}, sd)
	diff, _ := KID(a, c)
	if math.Abs(same) > 0.05 || diff < 10*math.Abs(same) || diff < 0.05 {
		t.Errorf("KID same distribution %v, shifted %v: want ≈ 0 and clearly positive", same, diff)
	}
}

// TestDistancesAgainstNumPy: a fixed pair of small sets scores what NumPy
// gives (np.cov, np.linalg.eigh for the square root; the KID estimator
// written with matrix products).
func TestDistancesAgainstNumPy(t *testing.T) {
	const n, d = 7, 4
	a, b := make([][]float64, n), make([][]float64, n+2)
	for i := range a {
		a[i] = make([]float64, d)
		for j := range d {
			a[i][j] = math.Sin(1.3*float64(i)+0.7*float64(j)) + 0.1*float64(j)
		}
	}
	for i := range b {
		b[i] = make([]float64, d)
		for j := range d {
			b[i][j] = math.Cos(0.9*float64(i)-0.4*float64(j))*0.8 + 0.2
		}
	}
	fd, err := FrechetDistance(a, b)
	if err != nil || math.Abs(fd-0.356080658163) > 1e-7 {
		t.Errorf("Fréchet distance %.12f, NumPy 0.356080658163 (%v)", fd, err)
	}
	kid, err := KID(a, b)
	if err != nil || math.Abs(kid-(-0.374385235313)) > 1e-9 {
		t.Errorf("KID %.12f, NumPy -0.374385235313 (%v)", kid, err)
	}
}
