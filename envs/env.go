// Package envs holds pixel reinforcement-learning environments written in
// pure Go: the dm_control suite's classic control tasks reimplemented in 2D
// (cartpole, pendulum, reacher, point mass, ball in cup) behind an API
// shaped like Gymnasium's.
//
//	env, err := envs.Make("cartpole-swingup", envs.WithPixels(84, 84))
//	if err != nil { ... }
//	defer env.Close()
//	seed := int64(1)
//	obs, _ := env.Reset(&seed)
//	for {
//		obs, reward, terminated, truncated, _ := env.Step(action)
//		...
//		if terminated || truncated { break }
//	}
//
// Physics, rewards and rendering are deterministic: the same seed gives the
// same observations and rewards, bit for bit, on the same architecture.
// Rendering needs no display; the live window lives in envs/viewer so that
// headless programs do not link OpenGL. Wrappers (action repeat, frame
// stack, pixels at any size, time limit, GIF recorder) are in envs/wrap.
//
// An Env is not safe for concurrent use; run one per goroutine.
package envs

import (
	"image"
)

// Env is a reinforcement-learning environment with Gymnasium's shape.
type Env interface {
	// Reset starts a new episode. A non-nil seed re-seeds the environment's
	// random stream (as Gymnasium's reset(seed=...)); nil continues it. An
	// environment that was never seeded seeds itself from the operating
	// system and reports the seed in Info["seed"].
	Reset(seed *int64) (Obs, Info)
	// Step applies one action and advances the environment by one control
	// step. Actions outside the action space are clipped to it, as
	// dm_control clips controls to their ranges. terminated reports that
	// the task ended (never, for the dm_control tasks); truncated reports
	// that the time limit was reached. Calling Step after either without a
	// Reset panics, as does an action of the wrong length.
	Step(action []float64) (obs Obs, reward float64, terminated, truncated bool, info Info)
	// ActionSpace describes valid actions.
	ActionSpace() Box
	// ObservationSpace describes the observations Reset and Step return.
	ObservationSpace() ObsSpace
	// Render returns the current frame as a new RGB image (alpha is
	// always opaque) at the environment's render size.
	Render() *image.RGBA
	// Spec describes the environment: its name, timing and sizes.
	Spec() Spec
	// Close releases the environment's resources.
	Close() error
}

// Drawer is an Env that can render its current frame into an image of any
// size. Every environment of this package and every wrapper of envs/wrap
// implements it; wrappers use it to produce pixel observations at the size a
// caller asks for without resampling.
type Drawer interface {
	// RenderInto draws the current frame into dst, covering its bounds.
	RenderInto(dst *image.RGBA)
}

// Obs is one observation: a state vector, pixels, or both.
type Obs struct {
	// State is the dm_control observation dictionary flattened in key
	// order (Spec.StateKeys names the parts); nil when state observations
	// are off.
	State []float64
	// Pixels is a channels-first uint8 image of shape
	// ObservationSpace().Pixels.Shape, (3, H, W) or (3k, H, W) after a
	// frame stack; nil when pixel observations are off. Each call returns
	// a new slice that the caller may keep.
	Pixels []uint8
}

// Info carries diagnostic values, as Gymnasium's info dict. It may be nil.
type Info map[string]any

// Spec describes an environment.
type Spec struct {
	// ID is the registry name, such as "cartpole-swingup".
	ID string
	// Domain and Task are dm_control's names ("cartpole", "swingup").
	Domain, Task string
	// Description says what the task asks of the agent.
	Description string
	// ControlDt is the simulated time one Step covers, in seconds.
	ControlDt float64
	// PhysicsDt is the physics integrator's time step, in seconds.
	PhysicsDt float64
	// MaxEpisodeSteps is the number of Steps before the time limit
	// truncates an episode; 0 means no limit.
	MaxEpisodeSteps int
	// StateKeys names the parts of Obs.State in order, with their sizes.
	StateKeys []StateKey
	// RenderWidth and RenderHeight are the size of Render's images.
	RenderWidth, RenderHeight int
}

// StateKey is one entry of a dm_control observation dictionary.
type StateKey struct {
	Name string
	Size int
}

// FPS returns the real-time frame rate of the environment's steps.
func (s Spec) FPS() float64 {
	if s.ControlDt <= 0 {
		return 0
	}
	return 1 / s.ControlDt
}
