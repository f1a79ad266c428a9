// Package wrap holds environment wrappers in the style of Gymnasium's and
// dmc2gym's: action repeat, frame stacking, pixel observations at any size,
// a time limit, and a recorder that writes episodes as animated GIFs.
//
// A typical pixel-SAC/CURL stack, as in the CURL paper:
//
//	env, _ := envs.Make("cartpole-swingup", envs.WithPixels(100, 100), envs.WithState(false))
//	env = wrap.ActionRepeat(env, 8)
//	env, _ = wrap.FrameStack(env, 3) // observations are (9, 100, 100) uint8
//
// Every wrapper is an envs.Env and an envs.Drawer, so wrappers compose in
// any order.
package wrap

import (
	"image"

	"github.com/selfsup/selfsup/envs"
)

// Wrapper forwards every call to the environment it wraps; wrappers embed
// it and override what they change.
type Wrapper struct {
	envs.Env
}

// Unwrap returns the wrapped environment.
func (w Wrapper) Unwrap() envs.Env { return w.Env }

// RenderInto draws the wrapped environment's current frame into dst.
func (w Wrapper) RenderInto(dst *image.RGBA) { envs.RenderInto(w.Env, dst) }
