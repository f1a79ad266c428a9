package envs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/selfsup/selfsup/envs/render"
)

// update regenerates the rendering snapshots: run
//
//	go test ./envs/ -run TestRenderSnapshots -update
//
// after changing the renderer or a scene on purpose, look at the PNGs in
// testdata/snapshots, and commit them with testdata/snapshots.json.
var update = flag.Bool("update", false, "rewrite envs/testdata snapshots from the current renderer")

const snapshotFile = "testdata/snapshots.json"

// snapshots is the checksum file: SHA-256 of each snapshot's RGBA pixels.
type snapshots struct {
	// Arch is the GOARCH the checksums were made on: floating-point
	// fusion differs between architectures, so pixels are compared there
	// only.
	Arch   string            `json:"arch"`
	Sha256 map[string]string `json:"sha256"`
}

// snapshotFrames renders every task in every style at two sizes after a
// fixed action sequence.
func snapshotFrames(t *testing.T) map[string]*image.RGBA {
	t.Helper()
	out := map[string]*image.RGBA{}
	for _, id := range List() {
		for _, st := range render.Styles() {
			e, err := Make(id, WithPixels(84, 84), WithStyle(st), WithRenderSize(160, 120))
			if err != nil {
				t.Fatal(err)
			}
			seed := int64(0)
			o, _ := e.Reset(&seed)
			act := make([]float64, e.ActionSpace().Size())
			for i := range 30 {
				for j := range act {
					act[j] = math.Sin(float64(i)/5 + float64(j))
				}
				o, _, _, _, _ = e.Step(act)
			}
			out[fmt.Sprintf("%s_%s_84x84", id, st)] = CHWToImage(o.Pixels, 84, 84, 0)
			out[fmt.Sprintf("%s_%s_160x120", id, st)] = e.Render()
		}
	}
	return out
}

func pixelSum(img *image.RGBA) string {
	h := sha256.New()
	fmt.Fprintf(h, "%dx%d:", img.Bounds().Dx(), img.Bounds().Dy())
	h.Write(img.Pix)
	return hex.EncodeToString(h.Sum(nil))
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestRenderSnapshots(t *testing.T) {
	frames := snapshotFrames(t)
	names := make([]string, 0, len(frames))
	for n := range frames {
		names = append(names, n)
	}
	slices.Sort(names)
	if *update {
		s := snapshots{Arch: runtime.GOARCH, Sha256: map[string]string{}}
		dir := filepath.Join("testdata", "snapshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			s.Sha256[n] = pixelSum(frames[n])
			if err := writePNG(filepath.Join(dir, n+".png"), frames[n]); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(snapshotFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d snapshots to %s", len(names), snapshotFile)
		return
	}
	b, err := os.ReadFile(snapshotFile)
	if err != nil {
		t.Fatalf("read snapshots: %v (run `go test ./envs/ -run TestRenderSnapshots -update` to make them)", err)
	}
	var s snapshots
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("parse %s: %v (regenerate it with -update)", snapshotFile, err)
	}
	if s.Arch != runtime.GOARCH {
		t.Skipf("snapshots were made on %s; pixels may differ in the last bit on %s", s.Arch, runtime.GOARCH)
	}
	var failed string
	for _, n := range names {
		want, ok := s.Sha256[n]
		if !ok {
			t.Errorf("%s: no snapshot (regenerate with -update)", n)
			continue
		}
		if got := pixelSum(frames[n]); got != want {
			if failed == "" {
				if failed, err = os.MkdirTemp("", "envs-snapshots-"); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(failed, n+".png")
			_ = writePNG(p, frames[n])
			t.Errorf("%s: pixels changed (sha256 %s, want %s); new frame in %s, expected one in testdata/snapshots. If the change is intended, run `go test ./envs/ -run TestRenderSnapshots -update`", n, got[:12], want[:12], p)
		}
	}
	for n := range s.Sha256 {
		if _, ok := frames[n]; !ok {
			t.Errorf("%s: snapshot of a frame no longer rendered (regenerate with -update)", n)
		}
	}
}
