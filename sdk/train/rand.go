package train

import "math/rand/v2"

// stepRand is a small deterministic generator for one step's host-side
// draws (patch positions), seeded by (run seed, step).
type stepRand struct{ r *rand.Rand }

func newStepRand(seed, step uint64) stepRand {
	return stepRand{rand.New(rand.NewPCG(seed, step^0x9e3779b97f4a7c15))}
}

// sample draws k distinct integers from [0, n) (all of them, in order, when
// k >= n).
func (g stepRand) sample(n, k int) []int64 {
	if k >= n {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	perm := g.r.Perm(n)
	out := make([]int64, k)
	for i := range out {
		out[i] = int64(perm[i])
	}
	return out
}
