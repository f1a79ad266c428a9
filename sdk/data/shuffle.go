package data

import (
	"math/bits"
	"math/rand/v2"
)

// Permutation returns a random permutation of [0, n) that depends only on
// (seed, epoch): the same pair gives the same permutation on every
// machine and Go version. It draws from a PCG generator seeded with
// (seed, epoch) and shuffles with Fisher–Yates, using its own bounded
// draw so the result does not depend on math/rand's internals.
func Permutation(n int, seed uint64, epoch int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	// Mix the epoch so nearby epochs give unrelated streams.
	src := rand.NewPCG(seed, splitmix(uint64(epoch)^0x5eed5eed5eed5eed))
	for i := n - 1; i > 0; i-- {
		j := int(bounded(src, uint64(i+1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// bounded returns a uniform draw from [0, n), n > 0, by Lemire's
// multiply-and-reject method.
func bounded(src *rand.PCG, n uint64) uint64 {
	for {
		hi, lo := bits.Mul64(src.Uint64(), n)
		if lo >= n || lo >= -n%n {
			return hi
		}
	}
}

// splitmix is the SplitMix64 finaliser, used to spread a small integer
// over 64 bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
