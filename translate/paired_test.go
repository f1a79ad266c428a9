package translate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestWritePaired: the official layout, the same names in A and B, two
// styles of one state (the states are checked equal while writing), and
// the same files for the same options.
func TestWritePaired(t *testing.T) {
	o := PairedOptions{Env: "cartpole-swingup", Size: 32, Train: 3, Test: 2, Every: 2, Episode: 4, Seed: 5}
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		if err := WritePaired(context.Background(), d, o, nil); err != nil {
			t.Fatal(err)
		}
	}
	for split, n := range map[string]int{"train": 3, "test": 2} {
		for _, dom := range []string{"A", "B"} {
			files, _ := filepath.Glob(filepath.Join(dirs[0], split+dom, "*.png"))
			if len(files) != n {
				t.Fatalf("%s%s: %d images, want %d", split, dom, len(files), n)
			}
		}
	}
	read := func(d, sub string) []byte {
		b, err := os.ReadFile(filepath.Join(d, sub, "00001.png"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if bytes.Equal(read(dirs[0], "trainA"), read(dirs[0], "trainB")) {
		t.Error("the flat and textured images of a state are the same file")
	}
	if !bytes.Equal(read(dirs[0], "testB"), read(dirs[1], "testB")) {
		t.Error("the same options wrote different images")
	}
	if err := WritePaired(context.Background(), t.TempDir(), PairedOptions{Env: "cartpole-swingup", Size: 4, Train: 1, Every: 1, Episode: 1}, nil); err == nil {
		t.Error("4×4 images accepted")
	}
}
