package plot

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// SavePNG writes img to path as a PNG, atomically: it writes a temporary
// file beside path and renames it, so a reader never sees half a picture.
func SavePNG(path string, img image.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("plot: save %s: %w; check that the folder exists and is writable", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("plot: save %s: %w", path, err)
	}
	if err := png.Encode(tmp, img); err != nil {
		return fmt.Errorf("plot: save %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("plot: save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("plot: save %s: %w", path, err)
	}
	return nil
}
