package envs

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// task is one dm_control task: physics, initial-state distribution, reward,
// state observation and the scene to draw.
type task interface {
	spec() taskSpec
	// reset samples an initial state.
	reset(rng *rand.Rand)
	// step advances one control step with ctrl (already clipped).
	step(ctrl []float64)
	// reward returns the reward of the current state under ctrl, the
	// control that led to it (dm_control computes rewards after the step).
	reward(ctrl []float64) float64
	// observe writes the flattened state observation into dst.
	observe(dst []float64)
	// scene returns the scene of the current state. The returned scene is
	// owned by the task and valid until the next call.
	scene() *render.Scene
}

// taskSpec is a task's static description.
type taskSpec struct {
	domain, task, description string
	controlDt, physicsDt      float64
	maxSteps                  int
	actions                   int
	stateKeys                 []StateKey
}

func (s taskSpec) stateDim() int {
	n := 0
	for _, k := range s.stateKeys {
		n += k.Size
	}
	return n
}

func (s taskSpec) publicSpec(c Config) Spec {
	steps := s.maxSteps
	if c.MaxEpisodeSteps >= 0 {
		steps = c.MaxEpisodeSteps
	}
	return Spec{
		ID:              normalizeID(s.domain + "-" + s.task),
		Domain:          s.domain,
		Task:            s.task,
		Description:     s.description,
		ControlDt:       s.controlDt,
		PhysicsDt:       s.physicsDt,
		MaxEpisodeSteps: steps,
		StateKeys:       append([]StateKey(nil), s.stateKeys...),
		RenderWidth:     c.RenderWidth,
		RenderHeight:    c.RenderHeight,
	}
}

// taskEnv turns a task into an Env.
type taskEnv struct {
	t        task
	ts       taskSpec
	spec     Spec
	cfg      Config
	rng      *rand.Rand
	seeded   bool
	started  bool
	done     bool
	steps    int
	ctrl     []float64
	act      Box
	renderer *render.Renderer
	frame    *image.RGBA
}

func newTaskEnv(t task, c Config) *taskEnv {
	ts := t.spec()
	e := &taskEnv{
		t:        t,
		ts:       ts,
		spec:     ts.publicSpec(c),
		cfg:      c,
		ctrl:     make([]float64, ts.actions),
		act:      NewBox(-1, 1, Float64, ts.actions),
		renderer: render.New(c.Style),
	}
	if c.PixelWidth > 0 {
		e.frame = image.NewRGBA(image.Rect(0, 0, c.PixelWidth, c.PixelHeight))
	}
	return e
}

// seedStream returns the random stream for a seed.
func seedStream(seed int64) *rand.Rand {
	s := uint64(seed)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// Reset implements Env.
func (e *taskEnv) Reset(seed *int64) (Obs, Info) {
	info := Info{}
	switch {
	case seed != nil:
		e.rng = seedStream(*seed)
		e.seeded = true
		info["seed"] = *seed
	case !e.seeded:
		var b [8]byte
		_, _ = crand.Read(b[:]) // never fails on supported platforms
		s := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
		e.rng = seedStream(s)
		e.seeded = true
		info["seed"] = s
	}
	e.t.reset(e.rng)
	clear(e.ctrl)
	e.steps = 0
	e.started = true
	e.done = false
	return e.obs(), info
}

// Step implements Env.
func (e *taskEnv) Step(action []float64) (Obs, float64, bool, bool, Info) {
	if !e.started {
		panic(fmt.Sprintf("envs: %s: Step before Reset: call Reset first", e.spec.ID))
	}
	if e.done {
		panic(fmt.Sprintf("envs: %s: Step after the episode ended: call Reset", e.spec.ID))
	}
	if len(action) != len(e.ctrl) {
		panic(fmt.Sprintf("envs: %s: action has %d elements, the action space %v needs %d", e.spec.ID, len(action), e.act, len(e.ctrl)))
	}
	for i, a := range action {
		if a != a { // NaN
			a = 0
		}
		e.ctrl[i] = min(max(a, -1), 1)
	}
	e.t.step(e.ctrl)
	e.steps++
	r := e.t.reward(e.ctrl)
	truncated := e.spec.MaxEpisodeSteps > 0 && e.steps >= e.spec.MaxEpisodeSteps
	e.done = truncated
	return e.obs(), r, false, truncated, nil
}

func (e *taskEnv) obs() Obs {
	var o Obs
	if e.cfg.State {
		o.State = make([]float64, e.ts.stateDim())
		e.t.observe(o.State)
	}
	if e.frame != nil {
		e.renderer.Draw(e.frame, e.t.scene())
		o.Pixels = ImageToCHW(nil, e.frame)
	}
	return o
}

// ActionSpace implements Env: one control per actuator, in [-1, 1].
func (e *taskEnv) ActionSpace() Box { return NewBox(-1, 1, Float64, e.ts.actions) }

// ObservationSpace implements Env.
func (e *taskEnv) ObservationSpace() ObsSpace {
	var s ObsSpace
	if e.cfg.State {
		s.State = NewBox(negInf, posInf, Float64, e.ts.stateDim())
	}
	if e.frame != nil {
		s.Pixels = NewBox(0, 255, Uint8, 3, e.cfg.PixelHeight, e.cfg.PixelWidth)
	}
	return s
}

// Render implements Env.
func (e *taskEnv) Render() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, e.cfg.RenderWidth, e.cfg.RenderHeight))
	e.RenderInto(img)
	return img
}

// RenderInto implements Drawer.
func (e *taskEnv) RenderInto(dst *image.RGBA) { e.renderer.Draw(dst, e.t.scene()) }

// Spec implements Env.
func (e *taskEnv) Spec() Spec { return e.spec }

// Close implements Env; there is nothing to release.
func (e *taskEnv) Close() error { return nil }

// ImageToCHW converts an RGB image to channels-first (3, H, W) uint8 pixels,
// appending to dst (which may be nil) and returning the extended slice.
func ImageToCHW(dst []uint8, img *image.RGBA) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := w * h
	start := len(dst)
	dst = append(dst, make([]uint8, 3*n)...)
	r, g, bl := dst[start:start+n], dst[start+n:start+2*n], dst[start+2*n:start+3*n]
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][: 4*w : 4*w]
		o := y * w
		for x := 0; x < w; x++ {
			r[o+x] = row[4*x]
			g[o+x] = row[4*x+1]
			bl[o+x] = row[4*x+2]
		}
	}
	return dst
}

// CHWToImage returns frame k (channels 3k..3k+2) of channels-first pixels of
// height h and width w as an RGB image.
func CHWToImage(pix []uint8, h, w, k int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	n := w * h
	base := 3 * k * n
	for i := 0; i < n; i++ {
		img.Pix[4*i] = pix[base+i]
		img.Pix[4*i+1] = pix[base+n+i]
		img.Pix[4*i+2] = pix[base+2*n+i]
		img.Pix[4*i+3] = 255
	}
	return img
}

// RenderInto draws e's current frame into dst: directly when e is a Drawer,
// otherwise by scaling Render's image to dst's size (nearest neighbour).
func RenderInto(e Env, dst *image.RGBA) {
	if d, ok := e.(Drawer); ok {
		d.RenderInto(dst)
		return
	}
	src := e.Render()
	sb, db := src.Bounds(), dst.Bounds()
	for y := 0; y < db.Dy(); y++ {
		sy := sb.Min.Y + y*sb.Dy()/db.Dy()
		for x := 0; x < db.Dx(); x++ {
			sx := sb.Min.X + x*sb.Dx()/db.Dx()
			copy(dst.Pix[dst.PixOffset(db.Min.X+x, db.Min.Y+y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
}
