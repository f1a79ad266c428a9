package wrap

import (
	"fmt"

	"github.com/selfsup/selfsup/envs"
)

// Stack stacks the last k pixel frames along the channel axis.
type Stack struct {
	Wrapper
	k      int
	frames [][]uint8 // oldest first
}

// FrameStack wraps e, whose observations must include pixels of shape
// (C, H, W), so that observations carry the last k frames concatenated
// along channels, oldest first: (k·C, H, W) uint8, as dmc2gym's FrameStack.
// Reset fills the stack with k copies of the first frame. State
// observations pass through unchanged.
func FrameStack(e envs.Env, k int) (*Stack, error) {
	if k < 1 {
		return nil, fmt.Errorf("wrap: frame stack of %d frames: use k >= 1", k)
	}
	if len(e.ObservationSpace().Pixels.Shape) != 3 {
		return nil, fmt.Errorf("wrap: frame stack needs pixel observations: make the env with envs.WithPixels or wrap it with wrap.Pixels first")
	}
	return &Stack{Wrapper: Wrapper{e}, k: k}, nil
}

// Reset starts an episode and fills the stack with its first frame.
func (s *Stack) Reset(seed *int64) (envs.Obs, envs.Info) {
	o, info := s.Env.Reset(seed)
	s.frames = s.frames[:0]
	for range s.k {
		s.frames = append(s.frames, o.Pixels)
	}
	return s.stacked(o), info
}

// Step steps the wrapped environment and pushes its frame onto the stack.
func (s *Stack) Step(action []float64) (envs.Obs, float64, bool, bool, envs.Info) {
	if len(s.frames) != s.k {
		panic("wrap: frame stack Step before Reset: call Reset first")
	}
	o, r, term, trunc, info := s.Env.Step(action)
	copy(s.frames, s.frames[1:])
	s.frames[s.k-1] = o.Pixels
	return s.stacked(o), r, term, trunc, info
}

func (s *Stack) stacked(o envs.Obs) envs.Obs {
	n := len(o.Pixels)
	out := make([]uint8, 0, n*s.k)
	for _, f := range s.frames {
		out = append(out, f...)
	}
	o.Pixels = out
	return o
}

// ObservationSpace reports the stacked pixel shape.
func (s *Stack) ObservationSpace() envs.ObsSpace {
	os := s.Env.ObservationSpace()
	sh := os.Pixels.Shape
	os.Pixels = envs.NewBox(0, 255, envs.Uint8, sh[0]*s.k, sh[1], sh[2])
	return os
}
