package wrap

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/selfsup/selfsup/envs"
)

// GIFOptions configures a GIF recorder.
type GIFOptions struct {
	// Path is the file to write. A Path with a %d verb (such as
	// "runs/ep%03d.gif") gets the episode number, counted from 0;
	// without one, each recorded episode overwrites the file.
	Path string
	// Width and Height are the frame size; 0 uses 100 x 100.
	Width, Height int
	// Every records one episode in Every (0 or 1: all of them).
	Every int
	// FrameSkip keeps one frame every FrameSkip steps; 0 picks the
	// smallest skip that plays at no more than 50 frames per second in
	// real time.
	FrameSkip int
	// MaxFrames stops adding frames to an episode's GIF after this many;
	// 0 means no limit.
	MaxFrames int
}

// GIFRecorder records episodes of the wrapped environment as animated GIFs.
// Frames are rendered with the environment's renderer at the recorder's
// size, independent of the agent's observations. A GIF is written when its
// episode ends (terminated or truncated), at the next Reset, or at Close.
type GIFRecorder struct {
	Wrapper
	opt     GIFOptions
	episode int
	steps   int
	frames  []*image.RGBA
	on      bool
	delay   int
	paths   []string
	err     error
}

// RecordGIF wraps e with a GIF recorder.
func RecordGIF(e envs.Env, opt GIFOptions) (*GIFRecorder, error) {
	if opt.Path == "" {
		return nil, errors.New("wrap: GIF recorder needs a Path to write to")
	}
	if opt.Width == 0 && opt.Height == 0 {
		opt.Width, opt.Height = 100, 100
	}
	if opt.Width < 1 || opt.Height < 1 || opt.Width > 4096 || opt.Height > 4096 {
		return nil, fmt.Errorf("wrap: GIF size %dx%d: give both sides in 1..4096", opt.Width, opt.Height)
	}
	opt.Every = max(opt.Every, 1)
	dt := e.Spec().ControlDt
	if opt.FrameSkip <= 0 {
		opt.FrameSkip = 1
		if dt > 0 {
			opt.FrameSkip = max(int(math.Ceil(0.02/dt-1e-9)), 1)
		}
	}
	delay := 4
	if dt > 0 {
		delay = int(math.Round(dt * float64(opt.FrameSkip) * 100))
	}
	return &GIFRecorder{Wrapper: Wrapper{e}, opt: opt, delay: max(delay, 2), episode: -1}, nil
}

// Reset writes the previous episode's GIF, if any, and starts recording the
// new episode when it is one in Every.
func (g *GIFRecorder) Reset(seed *int64) (envs.Obs, envs.Info) {
	g.flush()
	o, info := g.Env.Reset(seed)
	g.episode++
	g.steps = 0
	g.on = g.episode%g.opt.Every == 0
	g.capture()
	return o, info
}

// Step steps the wrapped environment and records the frame.
func (g *GIFRecorder) Step(action []float64) (envs.Obs, float64, bool, bool, envs.Info) {
	o, r, term, trunc, info := g.Env.Step(action)
	g.steps++
	if g.steps%g.opt.FrameSkip == 0 {
		g.capture()
	}
	if term || trunc {
		g.flush()
	}
	return o, r, term, trunc, info
}

func (g *GIFRecorder) capture() {
	if !g.on || (g.opt.MaxFrames > 0 && len(g.frames) >= g.opt.MaxFrames) {
		return
	}
	img := image.NewRGBA(image.Rect(0, 0, g.opt.Width, g.opt.Height))
	envs.RenderInto(g.Env, img)
	g.frames = append(g.frames, img)
}

// path returns the file for the current episode.
func (g *GIFRecorder) path() string {
	if strings.Contains(g.opt.Path, "%") {
		return fmt.Sprintf(g.opt.Path, g.episode)
	}
	return g.opt.Path
}

func (g *GIFRecorder) flush() {
	if !g.on || len(g.frames) == 0 {
		g.frames = g.frames[:0]
		return
	}
	p := g.path()
	err := g.write(p)
	if err != nil && g.err == nil {
		g.err = err
	}
	if err == nil {
		g.paths = append(g.paths, p)
	}
	g.frames = g.frames[:0]
	g.on = false
}

func (g *GIFRecorder) write(p string) error {
	if dir := filepath.Dir(p); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("wrap: GIF recorder: make folder for %s: %w", p, err)
		}
	}
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("wrap: GIF recorder: %w (check that the folder is writable)", err)
	}
	if err := WriteGIF(f, g.frames, g.delay); err != nil {
		f.Close()
		return fmt.Errorf("wrap: GIF recorder: write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wrap: GIF recorder: close %s: %w", p, err)
	}
	return nil
}

// Paths returns the GIFs written so far.
func (g *GIFRecorder) Paths() []string { return append([]string(nil), g.paths...) }

// Err returns the first error met while writing a GIF.
func (g *GIFRecorder) Err() error { return g.err }

// Close writes the episode in progress, closes the wrapped environment and
// returns the first error of either.
func (g *GIFRecorder) Close() error {
	g.flush()
	return errors.Join(g.err, g.Env.Close())
}
