package wrap

import (
	"github.com/selfsup/selfsup/envs"
)

// Limit truncates episodes after a number of steps.
type Limit struct {
	Wrapper
	max, steps int
}

// TimeLimit wraps e so that episodes are truncated after maxSteps steps (or
// earlier, if e truncates them itself), as Gymnasium's TimeLimit.
func TimeLimit(e envs.Env, maxSteps int) *Limit {
	return &Limit{Wrapper: Wrapper{e}, max: maxSteps}
}

// Reset starts an episode and the step count.
func (l *Limit) Reset(seed *int64) (envs.Obs, envs.Info) {
	l.steps = 0
	return l.Env.Reset(seed)
}

// Step steps e and reports truncation at the limit.
func (l *Limit) Step(action []float64) (envs.Obs, float64, bool, bool, envs.Info) {
	o, r, term, trunc, info := l.Env.Step(action)
	l.steps++
	if l.max > 0 && l.steps >= l.max {
		trunc = true
	}
	return o, r, term, trunc, info
}

// Spec reports the new limit.
func (l *Limit) Spec() envs.Spec {
	s := l.Env.Spec()
	if l.max > 0 && (s.MaxEpisodeSteps == 0 || l.max < s.MaxEpisodeSteps) {
		s.MaxEpisodeSteps = l.max
	}
	return s
}
