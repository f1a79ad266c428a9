package wrap

import (
	"fmt"
	"image"

	"github.com/selfsup/selfsup/envs"
)

// PixelObs adds pixel observations rendered at a fixed size.
type PixelObs struct {
	Wrapper
	w, h      int
	keepState bool
	frame     *image.RGBA
}

// Pixels wraps e so that its observations carry (3, h, w) uint8 frames,
// rendered at that size directly (not resampled) when e is an
// envs.Drawer. keepState keeps the state observation; otherwise it is
// dropped, as dm_control's pixels wrapper with pixels_only.
func Pixels(e envs.Env, w, h int, keepState bool) (*PixelObs, error) {
	if w < 1 || h < 1 || w > 8192 || h > 8192 {
		return nil, fmt.Errorf("wrap: pixel size %dx%d: give both sides in 1..8192", w, h)
	}
	return &PixelObs{Wrapper: Wrapper{e}, w: w, h: h, keepState: keepState,
		frame: image.NewRGBA(image.Rect(0, 0, w, h))}, nil
}

func (p *PixelObs) observe(o envs.Obs) envs.Obs {
	envs.RenderInto(p.Env, p.frame)
	o.Pixels = envs.ImageToCHW(nil, p.frame)
	if !p.keepState {
		o.State = nil
	}
	return o
}

// Reset starts an episode and renders its first frame.
func (p *PixelObs) Reset(seed *int64) (envs.Obs, envs.Info) {
	o, info := p.Env.Reset(seed)
	return p.observe(o), info
}

// Step steps the wrapped environment and renders the new frame.
func (p *PixelObs) Step(action []float64) (envs.Obs, float64, bool, bool, envs.Info) {
	o, r, term, trunc, info := p.Env.Step(action)
	return p.observe(o), r, term, trunc, info
}

// ObservationSpace reports the pixel shape (and the state, if kept).
func (p *PixelObs) ObservationSpace() envs.ObsSpace {
	var os envs.ObsSpace
	if p.keepState {
		os.State = p.Env.ObservationSpace().State
	}
	os.Pixels = envs.NewBox(0, 255, envs.Uint8, 3, p.h, p.w)
	return os
}
