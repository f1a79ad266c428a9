package wrap

import (
	"bytes"
	"image"
	"image/gif"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/render"
)

func mustMake(t *testing.T, id string, opts ...envs.Option) envs.Env {
	t.Helper()
	e, err := envs.Make(id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestActionRepeat(t *testing.T) {
	tests := []struct {
		id string
		k  int
	}{{"cartpole-swingup", 8}, {"reacher-easy", 4}, {"ball-in-cup-catch", 4}, {"pendulum-swingup", 1}}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			plain := mustMake(t, tc.id)
			rep := ActionRepeat(mustMake(t, tc.id), tc.k)
			seed := int64(9)
			plain.Reset(&seed)
			rep.Reset(&seed)
			act := make([]float64, plain.ActionSpace().Size())
			for i := range 5 {
				for j := range act {
					act[j] = math.Sin(float64(i + j))
				}
				var sum float64
				var po envs.Obs
				for range tc.k {
					var r float64
					po, r, _, _, _ = plain.Step(act)
					sum += r
				}
				ro, rr, _, _, _ := rep.Step(act)
				if rr != sum || !slices.Equal(po.State, ro.State) {
					t.Fatalf("step %d: repeat gave reward %v state %v, %d plain steps %v %v", i, rr, ro.State, tc.k, sum, po.State)
				}
			}
			s := rep.Spec()
			if want := (1000 + tc.k - 1) / tc.k; s.MaxEpisodeSteps != want {
				t.Errorf("MaxEpisodeSteps = %d, want %d", s.MaxEpisodeSteps, want)
			}
			if math.Abs(s.ControlDt-plain.Spec().ControlDt*float64(tc.k)) > 1e-12 {
				t.Errorf("ControlDt = %v", s.ControlDt)
			}
		})
	}
}

func TestActionRepeatStopsAtEpisodeEnd(t *testing.T) {
	e := ActionRepeat(mustMake(t, "pendulum-swingup", envs.WithMaxEpisodeSteps(10)), 4)
	e.Reset(nil)
	var trunc bool
	steps := 0
	for !trunc {
		_, _, _, trunc, _ = e.Step([]float64{0})
		steps++
	}
	if steps != 3 {
		t.Errorf("10 steps with repeat 4 took %d wrapped steps, want 3", steps)
	}
}

func TestFrameStack(t *testing.T) {
	base := mustMake(t, "cartpole-swingup", envs.WithPixels(32, 24), envs.WithState(false))
	fs, err := FrameStack(base, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := fs.ObservationSpace().Pixels.Shape; !slices.Equal(got, []int{9, 24, 32}) {
		t.Fatalf("stacked shape %v, want [9 24 32]", got)
	}
	ref := mustMake(t, "cartpole-swingup", envs.WithPixels(32, 24), envs.WithState(false))
	seed := int64(4)
	o, _ := fs.Reset(&seed)
	r0, _ := ref.Reset(&seed)
	n := 3 * 24 * 32
	if len(o.Pixels) != 3*n {
		t.Fatalf("stack has %d bytes, want %d", len(o.Pixels), 3*n)
	}
	for k := range 3 {
		if !bytes.Equal(o.Pixels[k*n:(k+1)*n], r0.Pixels) {
			t.Fatalf("after Reset, frame %d is not the first frame", k)
		}
	}
	history := [][]uint8{r0.Pixels, r0.Pixels, r0.Pixels}
	for i := range 6 {
		a := []float64{1}
		o, _, _, _, _ = fs.Step(a)
		r, _, _, _, _ := ref.Step(a)
		history = append(history, r.Pixels)
		for k := range 3 {
			if !bytes.Equal(o.Pixels[k*n:(k+1)*n], history[len(history)-3+k]) {
				t.Fatalf("step %d: frame %d is not the right past frame (oldest first)", i, k)
			}
		}
	}
}

func TestFrameStackNeedsPixels(t *testing.T) {
	if _, err := FrameStack(mustMake(t, "cartpole-swingup"), 3); err == nil {
		t.Error("frame stack over state observations succeeded")
	}
	if _, err := FrameStack(mustMake(t, "cartpole-swingup", envs.WithPixels(8, 8)), 0); err == nil {
		t.Error("frame stack of 0 frames succeeded")
	}
}

func TestPixelsAtAnySize(t *testing.T) {
	tests := []struct {
		w, h      int
		keepState bool
	}{{84, 84, false}, {100, 100, true}, {64, 48, false}}
	for _, tc := range tests {
		p, err := Pixels(mustMake(t, "reacher-easy"), tc.w, tc.h, tc.keepState)
		if err != nil {
			t.Fatal(err)
		}
		direct := mustMake(t, "reacher-easy", envs.WithPixels(tc.w, tc.h))
		seed := int64(2)
		o, _ := p.Reset(&seed)
		d, _ := direct.Reset(&seed)
		if !bytes.Equal(o.Pixels, d.Pixels) {
			t.Errorf("%dx%d: wrapper pixels differ from WithPixels", tc.w, tc.h)
		}
		if (o.State != nil) != tc.keepState {
			t.Errorf("%dx%d: state kept = %v, want %v", tc.w, tc.h, o.State != nil, tc.keepState)
		}
		if got := p.ObservationSpace().Pixels.Shape; !slices.Equal(got, []int{3, tc.h, tc.w}) {
			t.Errorf("shape %v", got)
		}
	}
	if _, err := Pixels(mustMake(t, "reacher-easy"), 0, 5, false); err == nil {
		t.Error("0-pixel-wide observations accepted")
	}
}

func TestTimeLimit(t *testing.T) {
	e := TimeLimit(mustMake(t, "point-mass-easy"), 7)
	if e.Spec().MaxEpisodeSteps != 7 {
		t.Errorf("Spec().MaxEpisodeSteps = %d, want 7", e.Spec().MaxEpisodeSteps)
	}
	for ep := range 2 {
		e.Reset(nil)
		for i := 1; i <= 7; i++ {
			_, _, _, trunc, _ := e.Step([]float64{0, 0})
			if trunc != (i == 7) {
				t.Fatalf("episode %d step %d: truncated = %v", ep, i, trunc)
			}
		}
	}
}

func TestGIFRecorder(t *testing.T) {
	dir := t.TempDir()
	e := mustMake(t, "ball-in-cup-catch", envs.WithMaxEpisodeSteps(30), envs.WithStyle(render.Textured))
	rec, err := RecordGIF(e, GIFOptions{Path: filepath.Join(dir, "ep%02d.gif"), Width: 64, Height: 48, Every: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec.Reset(nil)
		for {
			_, _, term, trunc, _ := rec.Step([]float64{0.5, 1})
			if term || trunc {
				break
			}
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "ep00.gif"), filepath.Join(dir, "ep02.gif")}
	if got := rec.Paths(); !slices.Equal(got, want) {
		t.Fatalf("Paths() = %v, want %v", got, want)
	}
	f, err := os.Open(want[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if g.Config.Width != 64 || g.Config.Height != 48 {
		t.Errorf("GIF is %dx%d, want 64x48", g.Config.Width, g.Config.Height)
	}
	// 30 steps of 0.02 s at <= 50 fps: frame skip 1, 31 frames (delays
	// add up to 31 x 2 hundredths, merged frames included).
	total := 0
	for _, d := range g.Delay {
		total += d
	}
	if total != 31*2 {
		t.Errorf("GIF lasts %d hundredths of a second, want %d", total, 31*2)
	}
}

func TestWriteGIFRoundTrip(t *testing.T) {
	e := mustMake(t, "cartpole-swingup", envs.WithRenderSize(40, 30))
	seed := int64(1)
	e.Reset(&seed)
	var frames []*image.RGBA
	for range 10 {
		e.Step([]float64{1})
		frames = append(frames, e.Render())
	}
	var buf bytes.Buffer
	if err := WriteGIF(&buf, frames, 4); err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Composite the delta frames and compare with the originals.
	canvas := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i, fr := range g.Image {
		b := fr.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := fr.Palette[fr.ColorIndexAt(x, y)]
				if _, _, _, a := c.RGBA(); a == 0 {
					continue
				}
				canvas.Set(x, y, c)
			}
		}
		want := frames[i]
		worst := 0
		for j := range want.Pix {
			worst = max(worst, int(math.Abs(float64(want.Pix[j])-float64(canvas.Pix[j]))))
		}
		if worst > 24 {
			t.Errorf("frame %d differs by up to %d levels after quantisation", i, worst)
		}
	}
	if err := WriteGIF(&buf, nil, 4); err == nil {
		t.Error("a GIF of no frames was written")
	}
}
