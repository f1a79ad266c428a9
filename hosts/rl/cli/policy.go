package cli

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs"
)

// policyNames lists the built-in policies (agents will add theirs).
const policyNames = "random, sine or zero"

// newPolicy returns a built-in policy for e. random acts uniformly at
// random; sine sweeps each action smoothly with a random phase, which makes
// livelier demos; zero does nothing.
func newPolicy(name string, e envs.Env, seed int64) (func(envs.Obs) []float64, error) {
	as := e.ActionSpace()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	switch name {
	case "random":
		return func(envs.Obs) []float64 { return as.Sample(rng) }, nil
	case "zero":
		return func(envs.Obs) []float64 { return make([]float64, as.Size()) }, nil
	case "sine":
		n := as.Size()
		phase, freq := make([]float64, n), make([]float64, n)
		for i := range n {
			phase[i] = 2 * math.Pi * rng.Float64()
			freq[i] = 0.5 + rng.Float64()
		}
		t := 0.0
		dt := e.Spec().ControlDt
		return func(envs.Obs) []float64 {
			t += dt
			a := make([]float64, n)
			for i := range a {
				a[i] = math.Sin(2*math.Pi*freq[i]*t + phase[i])
			}
			return a
		}, nil
	}
	return nil, usageError{Err: fmt.Errorf("unknown policy %q: use %s", name, policyNames)}
}
