package plot

import (
	"image/color"
	"strings"
	"testing"
)

func TestGrid(t *testing.T) {
	// Four 2×3 gray images, image i filled with 10*(i+1); and one RGB image.
	gray := Images{N: 4, C: 1, H: 2, W: 3}
	for i := range 4 {
		for range 6 {
			gray.Pixels = append(gray.Pixels, uint8(10*(i+1)))
		}
	}
	rgbImg := Images{N: 1, C: 3, H: 1, W: 1, Pixels: []uint8{200, 100, 50}}
	tests := []struct {
		name       string
		imgs       Images
		opts       GridOptions
		w, h       int
		x, y       int // a pixel to check
		r, g, b, a uint8
	}{
		// 2×2 grid, pad 2, scale 1: width 2 + 2*(3+2) = 12, height 2 + 2*(2+2) = 10.
		{"square gray", gray, GridOptions{Scale: 1}, 12, 10, 7, 6, 40, 40, 40, 255},
		{"one row scaled", gray, GridOptions{Cols: 4, Scale: 2, Pad: -1}, 24, 4, 6, 0, 20, 20, 20, 255},
		{"padding color", gray, GridOptions{Scale: 1, Background: color.Black}, 12, 10, 0, 0, 0, 0, 0, 255},
		{"rgb auto scale", rgbImg, GridOptions{}, 2 + 48 + 2, 2 + 48 + 2, 25, 25, 200, 100, 50, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Grid(tt.imgs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Fatalf("size %v, want %d×%d", b.Size(), tt.w, tt.h)
			}
			got := img.RGBAAt(tt.x, tt.y)
			if got != (color.RGBA{tt.r, tt.g, tt.b, tt.a}) {
				t.Errorf("pixel (%d, %d) = %v, want %v", tt.x, tt.y, got, color.RGBA{tt.r, tt.g, tt.b, tt.a})
			}
		})
	}
}

func TestGridRowLabels(t *testing.T) {
	imgs := Images{N: 4, C: 1, H: 28, W: 28, Pixels: make([]uint8, 4*28*28)}
	plain, err := Grid(imgs, GridOptions{Cols: 2})
	if err != nil {
		t.Fatal(err)
	}
	labelled, err := Grid(imgs, GridOptions{Cols: 2, RowLabels: []string{"original", "view 1"}})
	if err != nil {
		t.Fatal(err)
	}
	if labelled.Bounds().Dx() <= plain.Bounds().Dx() || labelled.Bounds().Dy() != plain.Bounds().Dy() {
		t.Errorf("labelled grid %v vs plain %v: want wider, same height", labelled.Bounds(), plain.Bounds())
	}
}

func TestGridErrors(t *testing.T) {
	tests := []struct {
		name string
		imgs Images
		want string
	}{
		{"empty", Images{}, "at least one"},
		{"two channels", Images{N: 1, C: 2, H: 1, W: 1, Pixels: []uint8{1, 2}}, "channels"},
		{"short pixels", Images{N: 2, C: 1, H: 2, W: 2, Pixels: make([]uint8, 7)}, "want 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Grid(tt.imgs, GridOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
