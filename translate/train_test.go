package translate

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// batchTensor is n CHW images of side size as a tensor.
func batchTensor(t *testing.T, v []float32, n, size int) *ts.Tensor {
	t.Helper()
	x, err := tensor.FromFloat32(v, int64(n), 3, int64(size), int64(size))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// pairedL1 is the mean |G(A) − B| over the test pairs of dir.
func pairedL1(t *testing.T, g *Generator, dir string, pre Preprocess) float64 {
	t.Helper()
	a, err := OpenFolder(filepath.Join(dir, "testA"))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	var n int
	for _, pa := range a.Paths {
		ia, err := LoadImage(pa)
		if err != nil {
			t.Fatal(err)
		}
		ib, err := LoadImage(filepath.Join(dir, "testB", filepath.Base(pa)))
		if err != nil {
			t.Fatal(err)
		}
		x := batchTensor(t, pre.Apply(ia, nil), 1, pre.Crop)
		want := pre.Apply(ib, nil)
		var got []float64
		tensor.NoGrad(func() {
			y := g.Forward(x)
			got, err = tensor.AsFloat64s(y)
			y.MustDrop()
		})
		x.MustDrop()
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			sum += math.Abs(got[i] - float64(want[i]))
		}
		n += len(want)
	}
	return sum / float64(n)
}

// TestShortRunLowersL1: a few hundred CUT iterations on a small rendered
// paired set (flat → textured cartpole, trained unpaired) bring the
// translations of the held-out flat images closer to their true textured
// drawings.
func TestShortRunLowersL1(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few hundred iterations")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	dir := t.TempDir()
	if err := WritePaired(ctx, dir, PairedOptions{Env: "cartpole-swingup", Size: 32, Train: 64, Test: 8, Every: 4, Episode: 100, Seed: 2}, nil); err != nil {
		t.Fatal(err)
	}
	fa, err := OpenFolder(filepath.Join(dir, "trainA"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := OpenFolder(filepath.Join(dir, "trainB"))
	if err != nil {
		t.Fatal(err)
	}
	pre := Preprocess{Load: 32, Crop: 32}
	data, err := NewUnaligned(fa, fb, pre, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallCUT()
	cfg.G.NGF = 8
	model, err := New(ctx, cfg, patchnce.New(), gotch.CPU, 32, int64(data.Len()), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	before := pairedL1(t, model.G, dir, pre)
	const iters = 300
	var last Stats
	for i := range int64(iters) {
		va, vb, err := data.Next(1, false)
		if err != nil {
			t.Fatal(err)
		}
		a, b := batchTensor(t, va, 1, 32), batchTensor(t, vb, 1, 32)
		last, err = model.Step(ctx, a, b, i)
		a.MustDrop()
		b.MustDrop()
		if err != nil {
			t.Fatal(err)
		}
	}
	after := pairedL1(t, model.G, dir, pre)
	t.Logf("paired L1 %.4f → %.4f after %d iterations (last: D %.3f, G_GAN %.3f, NCE %.3f, NCE_Y %.3f)", before, after, iters, last.D, last.GGAN, last.NCE, last.NCEY)
	if !(after < 0.8*before) {
		t.Errorf("paired-truth L1 went from %.4f to %.4f; want it at least 20%% lower", before, after)
	}
}

// TestEvaluateWithEncoder: the paired scores and, on a (random-init)
// trunk's features, finite Fréchet distances and KIDs, the source's
// distance above zero, and both zero when B is scored against itself.
func TestEvaluateWithEncoder(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	dir := t.TempDir()
	if err := WritePaired(ctx, dir, PairedOptions{Env: "cartpole-swingup", Size: 32, Train: 1, Test: 6, Every: 3, Episode: 30, Seed: 6}, nil); err != nil {
		t.Fatal(err)
	}
	cfg := smallCUT().G
	g, err := NewGenerator(cfg, gotch.CPU, nn.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	enc, err := encoder.New("convnet-s", 3, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(ctx, g, dir, "test", 32, enc)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"FD G(A)": ev.FDTranslated, "FD A": ev.FDSource, "KID G(A)": ev.KIDTranslated, "KID A": ev.KIDSource} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if ev.Pairs != 6 || ev.Encoder != "convnet-s" || !(ev.FDSource > 0) {
		t.Errorf("evaluation %+v: want 6 pairs on convnet-s, a positive distance of A from B", ev)
	}
	b, err := OpenFolder(filepath.Join(dir, "testB"))
	if err != nil {
		t.Fatal(err)
	}
	var imgs [][]float32
	for _, p := range b.Paths {
		img, err := LoadImage(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, Preprocess{Load: 32, Crop: 32}.Apply(img, nil))
	}
	f, err := Features(ctx, enc, imgs, 32)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := FrechetDistance(f, f); math.Abs(d) > 1e-6 {
		t.Errorf("B against itself: Fréchet distance %v", d)
	}
}
