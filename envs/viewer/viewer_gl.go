//go:build cgo

package viewer

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gopxl/pixel/v2"
	"github.com/gopxl/pixel/v2/backends/opengl"
	"github.com/gopxl/pixel/v2/ext/text"

	"github.com/selfsup/selfsup/envs"
)

// hudHeight is the height of the text strip under the frame.
const hudHeight = 64

// Main checks for a display and runs run on a goroutine while the calling
// (main) goroutine serves OpenGL. It returns when run returns. Call it once,
// from the main goroutine.
func Main(run func()) error {
	if err := CheckDisplay(); err != nil {
		return err
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("viewer: OpenGL failed: %v (check that an OpenGL 3.3 driver is installed, such as Mesa's libgl1-mesa-dri)", r)
			}
		}()
		opengl.Run(run)
	}()
	return err
}

// Window is a viewer window: a frame on top and lines of text under it.
type Window struct {
	win    *opengl.Window
	canvas *opengl.Canvas
	txt    *text.Text
	w, h   int
	buf    []uint8
}

// NewWindow opens a window showing w x h frames. Call it inside Main.
func NewWindow(title string, w, h int) (win *Window, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("viewer: open window: %v (check the display and the OpenGL driver)", r)
		}
	}()
	ow, err := opengl.NewWindow(opengl.WindowConfig{
		Title:  title,
		Bounds: pixel.R(0, 0, float64(w), float64(h+hudHeight)),
		VSync:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("viewer: open window: %w (check the display and the OpenGL driver)", err)
	}
	ow.SetSmooth(false)
	c := opengl.NewCanvas(pixel.R(0, 0, float64(w), float64(h)))
	c.SetSmooth(false)
	return &Window{
		win: ow, canvas: c, w: w, h: h,
		txt: text.New(pixel.V(6, hudHeight-16), text.Atlas7x13),
		buf: make([]uint8, 4*w*h),
	}, nil
}

// Show draws frame (scaled to the window's frame size if it differs) and
// the text lines, and presents them.
func (v *Window) Show(frame *image.RGBA, lines []string) {
	b := frame.Bounds()
	fw, fh := b.Dx(), b.Dy()
	if fw != v.w || fh != v.h {
		frame = scaleNearest(frame, v.w, v.h)
		b = frame.Bounds()
	}
	// OpenGL textures start at the bottom row; alpha is opaque, so the
	// premultiplied form is the same bytes.
	for y := 0; y < v.h; y++ {
		copy(v.buf[(v.h-1-y)*4*v.w:][:4*v.w], frame.Pix[frame.PixOffset(b.Min.X, b.Min.Y+y):][:4*v.w])
	}
	v.canvas.SetPixels(v.buf)
	v.win.Clear(color.RGBA{20, 24, 30, 255})
	v.canvas.Draw(v.win, pixel.IM.Moved(pixel.V(float64(v.w)/2, hudHeight+float64(v.h)/2)))
	v.txt.Clear()
	fmt.Fprint(v.txt, strings.Join(lines, "\n"))
	v.txt.Draw(v.win, pixel.IM)
	v.win.Update()
}

// ReadPixels returns what the window shows (frame and text) as drawn
// before it was presented, top row first, alpha opaque.
func (v *Window) ReadPixels() *image.RGBA {
	c := v.win.Canvas()
	bounds := c.Bounds()
	w, h := int(bounds.W()), int(bounds.H())
	px := c.Pixels()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		src := px[(h-1-y)*4*w:][:4*w]
		dst := img.Pix[y*img.Stride:][:4*w]
		for x := 0; x < w; x++ {
			a := src[4*x+3]
			for k := 0; k < 3; k++ {
				c := src[4*x+k]
				if a != 0 && a != 255 { // un-premultiply
					c = uint8(min(255, (int(c)*255+int(a)/2)/int(a)))
				}
				dst[4*x+k] = c
			}
			dst[4*x+3] = 255
		}
	}
	return img
}

// Closed reports whether the user closed the window.
func (v *Window) Closed() bool { return v.win.Closed() }

// Close closes the window.
func (v *Window) Close() { v.win.Destroy() }

func (v *Window) pressed(bs ...pixel.Button) bool {
	for _, b := range bs {
		if v.win.Pressed(b) {
			return true
		}
	}
	return false
}

func (v *Window) justPressed(bs ...pixel.Button) bool {
	for _, b := range bs {
		if v.win.JustPressed(b) {
			return true
		}
	}
	return false
}

// keyboard returns the action the arrow keys (or WASD) ask for.
func (v *Window) keyboard(n int) []float64 {
	a := make([]float64, n)
	axis := func(neg, pos bool) float64 {
		switch {
		case neg && !pos:
			return -1
		case pos && !neg:
			return 1
		}
		return 0
	}
	h := axis(v.pressed(pixel.KeyLeft, pixel.KeyA), v.pressed(pixel.KeyRight, pixel.KeyD))
	vv := axis(v.pressed(pixel.KeyDown, pixel.KeyS), v.pressed(pixel.KeyUp, pixel.KeyW))
	if n >= 1 {
		a[0] = h
	}
	if n >= 2 {
		a[1] = vv
	}
	return a
}

func scaleNearest(src *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sb := src.Bounds()
	for y := 0; y < h; y++ {
		sy := sb.Min.Y + y*sb.Dy()/h
		for x := 0; x < w; x++ {
			sx := sb.Min.X + x*sb.Dx()/w
			copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}

// Play opens a window and lets the user drive e with the keyboard until the
// window closes, ctx is done, or o.Episodes episodes end. Call it inside
// Main.
func Play(ctx context.Context, e envs.Env, o Options) error {
	return loop(ctx, e, nil, o)
}

// Watch opens a window and shows policy p acting in e. A nil p acts
// uniformly at random. Call it inside Main.
func Watch(ctx context.Context, e envs.Env, p Policy, o Options) error {
	if p == nil {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		if o.Seed != nil {
			rng = rand.New(rand.NewPCG(uint64(*o.Seed), 1))
		}
		as := e.ActionSpace()
		p = func(envs.Obs) []float64 { return as.Sample(rng) }
	}
	return loop(ctx, e, p, o)
}

func loop(ctx context.Context, e envs.Env, p Policy, o Options) error {
	o = o.withDefaults(e)
	spec := e.Spec()
	win, err := NewWindow(o.Title, o.Size, o.Size)
	if err != nil {
		return err
	}
	defer win.Close()
	frame := image.NewRGBA(image.Rect(0, 0, o.Size, o.Size))
	small := image.NewRGBA(image.Rect(0, 0, o.AgentView, o.AgentView))
	n := e.ActionSpace().Size()

	obs, _ := e.Reset(o.Seed)
	var (
		episode, steps  int
		ret, lastReward float64
		action          = make([]float64, n)
		paused, agent   bool
		speed           = o.Speed
		acc             float64
		last            = time.Now()
	)
	dt := spec.ControlDt
	if dt <= 0 {
		dt = 0.02
	}
	mode := "play"
	if p != nil {
		mode = "watch"
	}
	for !win.Closed() {
		if err := ctx.Err(); err != nil {
			return nil
		}
		switch {
		case win.justPressed(pixel.KeyEscape, pixel.KeyQ):
			return nil
		case win.justPressed(pixel.KeySpace):
			paused = !paused
		case win.justPressed(pixel.KeyR):
			obs, _ = e.Reset(nil)
			steps, ret, lastReward = 0, 0, 0
		case win.justPressed(pixel.KeyEqual, pixel.KeyKPAdd):
			speed = min(speed*2, 64)
		case win.justPressed(pixel.KeyMinus, pixel.KeyKPSubtract):
			speed = max(speed/2, 1.0/64)
		case win.justPressed(pixel.KeyO):
			agent = !agent
		}
		now := time.Now()
		if !paused {
			acc += now.Sub(last).Seconds() * speed
		}
		last = now
		for k := 0; acc >= dt && k < 64; k++ {
			acc -= dt
			if p != nil {
				action = p(obs)
			} else {
				action = win.keyboard(n)
			}
			var term, trunc bool
			obs, lastReward, term, trunc, _ = e.Step(action)
			ret += lastReward
			steps++
			if term || trunc {
				if o.OnEpisode != nil {
					o.OnEpisode(Episode{Index: episode, Steps: steps, Return: ret})
				}
				episode++
				if o.Episodes > 0 && episode >= o.Episodes {
					return nil
				}
				obs, _ = e.Reset(nil)
				steps, ret = 0, 0
			}
		}
		if acc > dt { // too slow to keep up: drop the backlog
			acc = 0
		}
		if agent {
			envs.RenderInto(e, small)
			win.Show(scaleNearest(small, o.Size, o.Size), hud(spec, mode, episode, steps, lastReward, ret, action, speed, paused, agent, o))
		} else {
			envs.RenderInto(e, frame)
			win.Show(frame, hud(spec, mode, episode, steps, lastReward, ret, action, speed, paused, agent, o))
		}
	}
	return nil
}

func hud(s envs.Spec, mode string, ep, steps int, r, ret float64, a []float64, speed float64, paused, agent bool, o Options) []string {
	state := fmt.Sprintf("x%g", speed)
	if paused {
		state = "paused"
	}
	view := ""
	if agent {
		view = fmt.Sprintf("  view %dx%d", o.AgentView, o.AgentView)
	}
	acts := make([]string, len(a))
	for i, v := range a {
		acts[i] = fmt.Sprintf("%+.2f", v)
	}
	return []string{
		fmt.Sprintf("%s  %s  episode %d  %s%s", s.ID, mode, ep, state, view),
		fmt.Sprintf("step %d/%d  reward %.3f  return %.2f", steps, s.MaxEpisodeSteps, r, ret),
		fmt.Sprintf("action [%s]", strings.Join(acts, " ")),
		"arrows/WASD drive, space pause, R reset, +/- speed, O view, Q quit",
	}
}
