package runner

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/wrap"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// makeEnv builds the task as the run sees it: pixels of frameSize
// stacked Stack deep, or the state vector; actions repeated.
func (c *Config) makeEnv() (envs.Env, error) {
	opts := []envs.Option{envs.WithState(!c.Pixels)}
	if c.Pixels {
		opts = append(opts, envs.WithPixels(c.frameSize(), c.frameSize()), envs.WithStyle(c.Style))
	}
	e, err := envs.Make(c.Env, opts...)
	if err != nil {
		return nil, fmt.Errorf("rl: %w", err)
	}
	var w envs.Env = wrap.ActionRepeat(e, c.repeat())
	if c.Pixels {
		if w, err = wrap.FrameStack(w, c.Stack); err != nil {
			e.Close()
			return nil, fmt.Errorf("rl: frame stack: %w", err)
		}
	}
	return w, nil
}

// obsTensor is one observation as the agent acts on it, [1, …] on dev:
// the stack centre-cropped to ImageSize, or the state.
func (c *Config) obsTensor(o envs.Obs, dev gotch.Device) (*ts.Tensor, error) {
	var x *ts.Tensor
	var err error
	if !c.Pixels {
		x, err = tensor.FromFloat64(o.State, 1, int64(len(o.State)))
		if err == nil {
			x = x.MustTotype(gotch.Float, true)
		}
	} else {
		f, k := int64(c.frameSize()), int64(3*c.Stack)
		if x, err = tensor.FromUint8(o.Pixels, 1, k, f, f); err != nil {
			return nil, err
		}
		x = x.MustTotype(gotch.Float, true)
		if s := int64(c.ImageSize); f > s {
			off := (f - s) / 2
			n := x.MustNarrow(2, off, s, false)
			x.MustDrop()
			x = n.MustNarrow(3, off, s, true)
		}
	}
	if err != nil {
		return nil, err
	}
	if dev != gotch.CPU {
		x = x.MustTo(dev, true)
	}
	return x, nil
}

// newestFrame is the last frame of a stacked observation (what the replay
// buffer stores).
func (c *Config) newestFrame(o envs.Obs) []uint8 {
	if !c.Pixels {
		return nil
	}
	n := 3 * c.frameSize() * c.frameSize()
	return o.Pixels[len(o.Pixels)-n:]
}

// state is the observation's state vector (nil on pixels).
func (c *Config) state(o envs.Obs) []float64 {
	if c.Pixels {
		return nil
	}
	return o.State
}
