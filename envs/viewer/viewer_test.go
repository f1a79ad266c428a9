//go:build viewer && cgo

// The viewer tests open real windows. They need a display and OpenGL, so
// they only build with the viewer tag; run them under a virtual display:
//
//	xvfb-run -a go test -tags viewer ./envs/viewer/...
package viewer

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"os"
	"testing"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/render"
)

func TestMain(m *testing.M) {
	code := 1
	if err := Main(func() { code = m.Run() }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// compare counts the pixels of the frame region of got that differ from
// want by more than tol levels in any channel, ignoring pixels on an edge of
// want (a step of more than 16 levels to a neighbour), where drivers may
// sample or round anti-aliased values differently.
func compare(want, got *image.RGBA, tol int) (bad, interior int) {
	b := want.Bounds()
	abs := func(a, b uint8) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	far := func(c, d color.RGBA, lim int) bool {
		return abs(c.R, d.R) > lim || abs(c.G, d.G) > lim || abs(c.B, d.B) > lim
	}
	differs := func(x, y int, img *image.RGBA) bool {
		c := img.RGBAAt(x, y)
		for _, n := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nx, ny := x+n[0], y+n[1]
			if nx < b.Min.X || ny < b.Min.Y || nx >= b.Max.X || ny >= b.Max.Y {
				continue
			}
			if far(img.RGBAAt(nx, ny), c, 16) {
				return true
			}
		}
		return false
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if differs(x, y, want) {
				continue
			}
			interior++
			if far(want.RGBAAt(x, y), got.RGBAAt(x, y), tol) {
				bad++
			}
		}
	}
	return bad, interior
}

func TestWindowShowsTheSoftwareFrame(t *testing.T) {
	tests := []struct {
		id    string
		style render.Style
		w, h  int
	}{
		{"cartpole-swingup", render.Flat, 160, 120},
		{"ball-in-cup-catch", render.Textured, 128, 128},
		{"reacher-easy", render.Textured, 84, 84},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.id, tc.style), func(t *testing.T) {
			e, err := envs.Make(tc.id, envs.WithStyle(tc.style))
			if err != nil {
				t.Fatal(err)
			}
			seed := int64(3)
			e.Reset(&seed)
			for range 20 {
				e.Step(make([]float64, e.ActionSpace().Size()))
			}
			want := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
			envs.RenderInto(e, want)

			win, err := NewWindow("viewer test", tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			defer win.Close()
			win.Show(want, []string{"test"})
			got := win.ReadPixels()
			if got.Bounds().Dx() != tc.w || got.Bounds().Dy() != tc.h+hudHeight {
				t.Fatalf("window is %v, want %dx%d", got.Bounds().Size(), tc.w, tc.h+hudHeight)
			}
			bad, interior := compare(want, got.SubImage(image.Rect(0, 0, tc.w, tc.h)).(*image.RGBA), 2)
			if interior < tc.w*tc.h/3 {
				t.Fatalf("only %d interior pixels to compare", interior)
			}
			t.Logf("%d of %d interior pixels differ by more than 2 levels", bad, interior)
			if bad > interior/200 {
				t.Errorf("%d of %d interior pixels differ from the software renderer by more than 2 levels", bad, interior)
			}
		})
	}
}

func TestWatchRunsEpisodes(t *testing.T) {
	e, err := envs.Make("pendulum-swingup", envs.WithMaxEpisodeSteps(20))
	if err != nil {
		t.Fatal(err)
	}
	var eps []Episode
	seed := int64(1)
	err = Watch(context.Background(), e, nil, Options{Size: 96, Speed: 64, Seed: &seed, Episodes: 2,
		OnEpisode: func(ep Episode) { eps = append(eps, ep) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Steps != 20 || eps[1].Index != 1 {
		t.Errorf("episodes = %+v, want two of 20 steps", eps)
	}
}

func TestPlayStopsWithContext(t *testing.T) {
	e, err := envs.Make("point-mass-easy")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Play(ctx, e, Options{Size: 64}); err != nil {
		t.Fatal(err)
	}
}
