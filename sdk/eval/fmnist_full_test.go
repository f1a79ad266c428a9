//go:build full

package eval

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/encoder"
)

// The full-data checks: the 60000-image bank, 10000 queries, 30-epoch
// probes. They take a few minutes on 2 cores:
//
//	go test -tags full -run Full -v -timeout 30m ./sdk/eval/
//
// Set SELFSUP_EVAL_REPORT=folder to also write eval.json, linear.png and
// the table there.

// TestFullFashionMNISTRawPixels checks the raw-pixel baseline against the
// PyTorch reference: RESULTS.md table 1 has kNN 81.77 %, linear_raw
// 84.51 %, linear_l2 83.37 % (seed 0); on this machine's OpenBLAS the
// reference gives kNN 81.78 %, linear_raw 84.51/84.20/84.14 % and
// linear_l2 83.37/83.37/83.41 % for seeds 0/1/2.
func TestFullFashionMNISTRawPixels(t *testing.T) {
	ctx := context.Background()
	train, test := loadFMNIST(t)
	f, err := PixelFeatures(ctx, train, test, ExtractOptions{Norm: FashionMNISTNorm()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Drop()
	opts := Options{}
	if testing.Verbose() {
		opts.Progress = os.Stderr
	}
	res, err := Evaluate(ctx, f, train.Labels, test.Labels, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"kNN", res.KNN, 81.77}, {"linear_raw", res.LinearRaw, 84.51}, {"linear_l2", res.LinearL2, 83.37}} {
		t.Logf("%s %.2f %% (reference %.2f %%)", c.name, c.got, c.want)
		if !near(c.got, c.want, 0.5) {
			t.Errorf("raw-pixel %s %.2f %%, want %.2f ± 0.5 %%", c.name, c.got, c.want)
		}
	}
	t.Logf("seconds: %+v", res.Seconds)
	report(t, train.N, test.N, opts, res)
}

// TestFullFashionMNISTRandomConvNetS evaluates a random-init convnet-s
// (libtorch seed 0, eval-mode BN) against the reference's (RESULTS.md
// table 1: kNN 74.61 %, linear_raw 49.60 %, linear_l2 65.20 %).
// sdk/encoder initialises as PyTorch does, and measured once here the
// kNN agreed to the query (74.61 %); the probe on raw features underfits
// (feature norm ~0.07), so it varies most with the probe's seed.
func TestFullFashionMNISTRandomConvNetS(t *testing.T) {
	ctx := context.Background()
	train, test := loadFMNIST(t)
	backend.ManualSeed(0)
	enc, err := encoder.New(encoder.ConvNetS, 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	eo := ExtractOptions{Norm: FashionMNISTNorm()}
	if testing.Verbose() {
		eo.Progress = ProgressBar(os.Stderr, "extract", "img")
	}
	start := time.Now()
	f, err := EncoderFeatures(ctx, "random convnet-s", enc, train, test, eo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Drop()
	f.Baseline = true
	t.Logf("extracted 70000 images in %v", time.Since(start))
	res, err := Evaluate(ctx, f, train.Labels, test.Labels, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kNN %.2f %%, linear_raw %.2f %%, linear_l2 %.2f %%, uniform %.3f; seconds %+v", res.KNN, res.LinearRaw, res.LinearL2, *res.Uniform, res.Seconds)
	for _, c := range []struct {
		name           string
		got, want, tol float64
	}{{"kNN", res.KNN, 74.61, 0.5}, {"linear_raw", res.LinearRaw, 49.60, 3}, {"linear_l2", res.LinearL2, 65.20, 1.5}} {
		if !near(c.got, c.want, c.tol) {
			t.Errorf("random convnet-s %s %.2f %%, reference %.2f ± %.1f %%", c.name, c.got, c.want, c.tol)
		}
	}
	report(t, train.N, test.N, Options{}, res)
}

// report writes the report of res to $SELFSUP_EVAL_REPORT when set.
func report(t *testing.T, train, test int, opts Options, res ...Result) {
	dir := os.Getenv("SELFSUP_EVAL_REPORT")
	if dir == "" {
		return
	}
	r := NewReport("fashion-mnist", train, test, opts)
	r.Add(res...)
	r.Add(FashionMNISTReference()...)
	if err := r.WriteTable(os.Stderr); err != nil {
		t.Error(err)
	}
	name := res[0].Name
	for _, w := range []error{r.WriteJSON(dir + "/" + name + ".json"), r.WriteProbePNG(dir + "/" + name + ".png")} {
		if w != nil {
			t.Error(w)
		}
	}
}
