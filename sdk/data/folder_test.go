package data

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// solid returns a w×h image of one color.
func solid(w, h int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

// encode encodes img as PNG or JPEG by the extension of name.
func encode(t *testing.T, name string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(name, ".png") {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	red   = color.RGBA{200, 10, 10, 255}
	green = color.RGBA{10, 200, 10, 255}
	gray  = color.Gray{Y: 128}
)

func TestLoadFolder(t *testing.T) {
	type file struct {
		name string
		img  image.Image
	}
	tests := []struct {
		name        string
		files       []file
		opts        FolderOptions
		wantN       int
		wantShape   [3]int
		wantClasses []string
		wantLabels  []int
		// wantPixel is channel values of image 0 at its centre.
		wantPixel []uint8
	}{
		{
			name: "class folders, resized, rgb",
			files: []file{
				{"dog/b.png", solid(40, 30, green)},
				{"cat/a.jpg", solid(17, 9, red)},
				{"cat/sub/c.JPEG", solid(64, 64, red)},
				{"dog/.hidden.png", solid(1, 1, red)},
				{"dog/notes.txt", nil},
				{".git/x.png", solid(2, 2, red)},
			},
			opts:        FolderOptions{Size: Size{H: 8, W: 12}},
			wantN:       3,
			wantShape:   [3]int{3, 8, 12},
			wantClasses: []string{"cat", "dog"},
			wantLabels:  []int{0, 0, 1},
			wantPixel:   []uint8{200, 10, 10},
		},
		{
			name:      "flat, grayscale from rgb",
			files:     []file{{"z.png", solid(5, 5, green)}, {"a.png", solid(7, 3, red)}},
			opts:      FolderOptions{Size: Size{H: 4, W: 4}, Channels: 1},
			wantN:     2,
			wantShape: [3]int{1, 4, 4},
			// luma of (200, 10, 10): (19595*200 + 38470*10 + 7471*10) >> 16 ≈ 67
			wantPixel: []uint8{67},
		},
		{
			name:      "gray png to rgb, native size",
			files:     []file{{"g.png", solid(6, 6, gray)}, {"h.png", solid(6, 6, gray)}},
			opts:      FolderOptions{Channels: 3},
			wantN:     2,
			wantShape: [3]int{3, 6, 6},
			wantPixel: []uint8{128, 128, 128},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if f.img == nil {
					writeFile(t, dir, f.name, []byte("not an image"))
					continue
				}
				writeFile(t, dir, f.name, encode(t, f.name, f.img))
			}
			d, err := LoadFolder(context.Background(), dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			if d.N != tt.wantN || [3]int{d.C, d.H, d.W} != tt.wantShape {
				t.Fatalf("shape %d×%d×%d×%d, want %d×%v", d.N, d.C, d.H, d.W, tt.wantN, tt.wantShape)
			}
			if strings.Join(d.Classes, ",") != strings.Join(tt.wantClasses, ",") {
				t.Errorf("classes %v, want %v", d.Classes, tt.wantClasses)
			}
			if tt.wantLabels == nil && d.Labeled() {
				t.Errorf("labels %v, want none", d.Labels)
			}
			for i, l := range tt.wantLabels {
				if d.Label(i) != l {
					t.Errorf("label of image %d = %d, want %d", i, d.Label(i), l)
				}
			}
			img, plane := d.Image(0), d.H*d.W
			centre := (d.H/2)*d.W + d.W/2
			for c, want := range tt.wantPixel {
				if got := img[c*plane+centre]; absDiff(got, want) > 3 {
					t.Errorf("channel %d at centre = %d, want %d", c, got, want)
				}
			}
		})
	}
}

func absDiff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestLoadFolderDeterministic(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		name := string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".png"
		writeFile(t, dir, "c"+string(rune('0'+i%3))+"/"+name, encode(t, name, solid(3+i, 5, color.RGBA{uint8(i * 6), 0, 0, 255})))
	}
	first, err := LoadFolder(context.Background(), dir, FolderOptions{Size: Size{H: 4, W: 4}, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := LoadFolder(context.Background(), dir, FolderOptions{Size: Size{H: 4, W: 4}, Workers: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Pixels, again.Pixels) || !equalInts(first.Labels, again.Labels) {
			t.Fatal("two loads of the same folder differ")
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadFolderErrors(t *testing.T) {
	goodJPEG := encode(t, "x.jpg", solid(16, 16, red))
	tests := []struct {
		name  string
		files map[string][]byte
		opts  FolderOptions
		want  []string
	}{
		{"corrupt jpeg", map[string][]byte{"a/ok.jpg": goodJPEG, "a/bad.jpg": goodJPEG[:len(goodJPEG)/2]},
			FolderOptions{Size: Size{H: 4, W: 4}}, []string{"bad.jpg", "corrupt"}},
		{"not an image", map[string][]byte{"x.png": []byte("hello")},
			FolderOptions{Size: Size{H: 4, W: 4}}, []string{"x.png"}},
		{"empty", map[string][]byte{"readme.txt": []byte("hi")},
			FolderOptions{}, []string{"no PNG or JPEG"}},
		{"mixed sizes, no size", map[string][]byte{"a.jpg": goodJPEG, "b.png": encode(t, "b.png", solid(3, 3, red))},
			FolderOptions{}, []string{"a.jpg", "b.png", "Size"}},
		{"loose images next to classes", map[string][]byte{"a/x.jpg": goodJPEG, "y.jpg": goodJPEG},
			FolderOptions{}, []string{"y.jpg", "class subfolder"}},
		{"bad channels", map[string][]byte{"a.jpg": goodJPEG},
			FolderOptions{Channels: 2}, []string{"2 channels"}},
		{"half a size", map[string][]byte{"a.jpg": goodJPEG},
			FolderOptions{Size: Size{H: 4}}, []string{"height and width"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				writeFile(t, dir, name, b)
			}
			_, err := LoadFolder(context.Background(), dir, tt.opts)
			if err == nil {
				t.Fatal("no error, want one")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		if _, err := LoadFolder(context.Background(), "/no/such/folder", FolderOptions{}); err == nil {
			t.Error("no error, want one")
		}
	})
}

func TestLoadFolderCancel(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		writeFile(t, dir, string(rune('a'+i))+".png", encode(t, "x.png", solid(8, 8, red)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := LoadFolder(ctx, dir, FolderOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
