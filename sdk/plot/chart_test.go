package plot

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// curve returns n points of a decaying, noisy-looking loss.
func curve(n int) []float64 {
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = 2*math.Exp(-float64(i)/30) + 0.3 + 0.1*math.Sin(float64(i))
	}
	return ys
}

// countColor counts the pixels of img close to c in r.
func countNear(img *image.RGBA, r image.Rectangle, want [3]uint8, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := img.Pix[img.PixOffset(x, y):]
			d := 0
			for k := range 3 {
				d = max(d, abs(int(p[k])-int(want[k])))
			}
			if d <= tol {
				n++
			}
		}
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestLineChartRender(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		chart LineChart
		w, h  int
	}{
		{"one series default size", LineChart{Title: "loss", XLabel: "step", YLabel: "loss", Series: []Series{{Name: "train", Y: curve(200)}}}, 800, 500},
		{"two series with x", LineChart{Title: "accuracy", Series: []Series{
			{Name: "kNN", X: []float64{1, 5, 10}, Y: []float64{0.77, 0.79, 0.8}},
			{Name: "linear", X: []float64{1, 5, 10}, Y: []float64{0.8, 0.82, 0.83}},
		}}, 800, 500},
		{"log y smoothed", LineChart{LogY: true, Smooth: 0.9, Series: []Series{{Name: "loss", Y: curve(500)}}}, 800, 500},
		{"nan and inf skipped", LineChart{Series: []Series{{Name: "x", Y: []float64{1, nan, 2, inf, -inf, 3, 2.5}}}}, 800, 500},
		{"log skips non-positive", LineChart{LogY: true, Series: []Series{{Y: []float64{1, 0, -1, 10, 100}}}}, 800, 500},
		{"single point", LineChart{Series: []Series{{Name: "only", Y: []float64{0.5}}}}, 800, 500},
		{"flat line", LineChart{Series: []Series{{Y: []float64{0, 0, 0}}}}, 800, 500},
		{"under a decade on log", LineChart{LogY: true, Series: []Series{{Y: []float64{0.35, 0.5, 0.6}}}}, 800, 500},
		{"custom size", LineChart{Width: 1600, Height: 900, Title: "big", Series: []Series{{Name: "a", Y: curve(50)}}}, 1600, 900},
		{"small", LineChart{Width: 320, Height: 200, Series: []Series{{Name: "a", Y: curve(50)}}}, 320, 200},
		{"many series", LineChart{Series: func() []Series {
			var ss []Series
			for i := range 12 {
				ss = append(ss, Series{Name: strings.Repeat("s", i+1), Y: []float64{float64(i), float64(i + 1)}})
			}
			return ss
		}()}, 800, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := tt.chart.Render()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "chart.png")
			if err := SavePNG(path, img); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := png.Decode(f)
			if err != nil {
				t.Fatalf("output does not decode as PNG: %v", err)
			}
			if b := got.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("size %v, want %d×%d", b.Size(), tt.w, tt.h)
			}
			// The first series' color must show up: something was drawn.
			c := Palette()[0]
			if n := countNear(img, img.Bounds(), [3]uint8{c.R, c.G, c.B}, 20); n < 5 {
				t.Errorf("%d pixels in the first series' color, want a line", n)
			}
		})
	}
}

func TestLineChartErrors(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		chart LineChart
		want  string
	}{
		{"no series", LineChart{Title: "t"}, "no series"},
		{"empty series", LineChart{Series: []Series{{Name: "a"}}}, "no finite values"},
		{"all nan", LineChart{Series: []Series{{Y: []float64{nan, nan}}}}, "no finite values"},
		{"log of negatives", LineChart{LogY: true, Series: []Series{{Y: []float64{-1, 0}}}}, "no finite positive"},
		{"x and y differ", LineChart{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{1, 2}}}}, "1 x values and 2 y values"},
		{"bad smoothing", LineChart{Smooth: 1, Series: []Series{{Y: []float64{1}}}}, "smoothing"},
		{"too small", LineChart{Width: 50, Height: 50, Series: []Series{{Y: []float64{1}}}}, "at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.chart.Render()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSavePNGMissingFolder(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	if err := SavePNG(filepath.Join(t.TempDir(), "no", "such", "x.png"), img); err == nil {
		t.Error("no error, want one")
	}
}
