package augment

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/plot"
)

// TestShowGridFashionMNIST draws the simclr and DINO recipes on real
// Fashion-MNIST. Set SELFSUP_SHOW_DIR to keep the pictures.
func TestShowGridFashionMNIST(t *testing.T) {
	d, err := data.LoadFashionMNIST("", data.Test)
	if err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	dir := os.Getenv("SELFSUP_SHOW_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, c := range []struct {
		file  string
		views []string
	}{
		{"simclr.png", []string{"simclr"}},
		{"dino.png", []string{"dino-global", "dino-global2", "dino-local", "dino-local"}},
		{"curl-rotation.png", []string{"curl-crop", "rotation"}},
	} {
		var views []ViewRecipe
		for i, name := range c.views {
			r, err := Builtin(name, d.H, d.C)
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, ViewRecipe{Name: name + string(rune('a'+i)), Recipe: r})
		}
		img, err := ShowGrid(context.Background(), d, views, ShowOptions{Images: 10, Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		want := 10 * (2 + 28*2)
		if h := img.Bounds().Dy(); h < want {
			t.Errorf("%s: picture %d pixels high, want at least %d", c.file, h, want)
		}
		if err := plot.SavePNG(filepath.Join(dir, c.file), img); err != nil {
			t.Fatal(err)
		}
	}
}
