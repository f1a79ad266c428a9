// Package viewer shows environments live in a window (github.com/gopxl/pixel/v2
// over OpenGL and GLFW): drive a task with the keyboard (Play) or watch a
// policy act (Watch), with the reward, the return and the step count shown
// under the frame.
//
// The frame is the software renderer's (envs/render), uploaded as a
// texture, so the window shows exactly what an agent sees. The viewer lives
// in its own package so that training binaries, which never import it, do
// not link GLFW; built with CGO_ENABLED=0 it compiles to stubs that return
// an error.
//
// OpenGL must run on the main thread: call Main from main() (or TestMain)
// and do all viewer work inside the function it runs.
//
//	func main() {
//		if err := viewer.Main(func() { err = viewer.Play(ctx, env, viewer.Options{}) }); err != nil { ... }
//	}
//
// Keys: arrows or WASD drive (left/right: first action, up/down: second),
// Space pauses, R resets, +/- change the speed, O toggles the agent's
// low-resolution view, Esc or Q quits.
package viewer

import (
	"fmt"
	"os"
	"runtime"

	"github.com/selfsup/selfsup/envs"
)

// Policy picks an action for an observation.
type Policy func(obs envs.Obs) []float64

// Options configures Play and Watch.
type Options struct {
	// Title of the window; empty uses the environment's name.
	Title string
	// Size is the frame's side in window pixels; 0 means 480.
	Size int
	// Speed is the playback speed relative to real time; 0 means 1.
	Speed float64
	// Seed seeds the first episode; nil seeds from the system.
	Seed *int64
	// Episodes stops after this many episodes; 0 runs until the window
	// closes.
	Episodes int
	// AgentView is the side of the low-resolution view O toggles (the
	// agent's pixels, scaled up); 0 means 84.
	AgentView int
	// OnEpisode, if set, is called at the end of each episode.
	OnEpisode func(Episode)
}

// Episode summarises a finished episode.
type Episode struct {
	Index  int
	Steps  int
	Return float64
}

func (o Options) withDefaults(e envs.Env) Options {
	if o.Title == "" {
		o.Title = "selfsup: " + e.Spec().ID
	}
	if o.Size <= 0 {
		o.Size = 480
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.AgentView <= 0 {
		o.AgentView = 84
	}
	return o
}

// CheckDisplay returns an error saying what to do when no display is
// available (GLFW panics on the main thread without one, where recover
// cannot catch it, so callers must check first).
func CheckDisplay() error {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" {
		return nil
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return fmt.Errorf("viewer: no display (DISPLAY is not set): run on a desktop, forward X (ssh -X), or run under a virtual display with `xvfb-run -a`")
	}
	return nil
}
