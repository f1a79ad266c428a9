package augment

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// rng draws the per-sample parameters of one view. It uses its own
// float and bounded-integer draws on top of PCG so that the values depend
// only on the seed, not on math/rand's method implementations.
type rng struct{ src *rand.PCG }

// newRNG returns the generator of view number view for a request's seed
// and step.
func newRNG(seed, step uint64, view int) *rng {
	hi := splitmix(seed ^ splitmix(uint64(view)+0x243f6a8885a308d3))
	lo := splitmix(step ^ 0x13198a2e03707344)
	return &rng{src: rand.NewPCG(hi, lo)}
}

// float returns a uniform draw from [0, 1).
func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// uniform returns a uniform draw from [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// intn returns a uniform draw from [0, n), n > 0 (Lemire's method).
func (r *rng) intn(n int) int {
	m := uint64(n)
	for {
		hi, lo := bits.Mul64(r.src.Uint64(), m)
		if lo >= m || lo >= -m%m {
			return int(hi)
		}
	}
}

// coin returns true with probability p.
func (r *rng) coin(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return r.float() < p
}

// coins draws n coins with probability p and returns the indices that came
// up true.
func (r *rng) coins(n int, p float64) []int64 {
	var idx []int64
	for i := range n {
		if r.coin(p) {
			idx = append(idx, int64(i))
		}
	}
	return idx
}

// splitmix is the SplitMix64 finaliser, which spreads nearby inputs over 64
// bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// roundHalfEven rounds like Python's round (torchvision's crop sizes).
func roundHalfEven(x float64) int { return int(math.RoundToEven(x)) }
