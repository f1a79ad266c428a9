package wrap

import (
	"github.com/selfsup/selfsup/envs"
)

// Repeat applies each action k times, summing the rewards, and returns the
// last observation, as dmc2gym's frame_skip and the CURL paper's action
// repeat (8 for cartpole, 4 for reacher and ball-in-cup, 2 for finger).
type Repeat struct {
	Wrapper
	k int
}

// ActionRepeat wraps e so that each Step applies the action k times (k < 1
// acts as 1). An episode that ends within the k steps returns at once.
func ActionRepeat(e envs.Env, k int) *Repeat {
	return &Repeat{Wrapper{e}, max(k, 1)}
}

// Step applies action up to k times and returns the summed reward.
func (r *Repeat) Step(action []float64) (envs.Obs, float64, bool, bool, envs.Info) {
	var (
		obs         envs.Obs
		total       float64
		term, trunc bool
		info        envs.Info
	)
	for range r.k {
		var rew float64
		obs, rew, term, trunc, info = r.Env.Step(action)
		total += rew
		if term || trunc {
			break
		}
	}
	return obs, total, term, trunc, info
}

// Spec reports the longer control step and the shorter episode.
func (r *Repeat) Spec() envs.Spec {
	s := r.Env.Spec()
	s.ControlDt *= float64(r.k)
	if s.MaxEpisodeSteps > 0 {
		s.MaxEpisodeSteps = (s.MaxEpisodeSteps + r.k - 1) / r.k
	}
	return s
}
