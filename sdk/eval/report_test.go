package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEvaluateAndReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	train, ytr := blobs(rng, 400, 6, 3)
	test, yte := blobs(rng, 120, 6, 3)
	va, _ := blobs(rng, 50, 6, 3)
	vb := make([][]float64, len(va))
	for i, r := range va { // a second view: the first, slightly moved
		vb[i] = make([]float64, len(r))
		for j, x := range r {
			vb[i][j] = x + 0.1*rng.NormFloat64()
		}
	}
	f := Features{Name: "blobs", Train: matrix(t, train), Test: matrix(t, test), ViewA: matrix(t, va), ViewB: matrix(t, vb), ExtractSeconds: 1.5}
	defer f.Drop()
	base := Features{Name: "blobs again", Baseline: true, Train: matrix(t, train), Test: matrix(t, test)}
	defer base.Drop()

	opts := Options{KNN: KNNOptions{K: 20}, Probe: ProbeOptions{Epochs: 4, LR: 0.05}}
	var progress bytes.Buffer
	opts.Progress = &progress
	res, err := Evaluate(context.Background(), f, ytr, yte, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Progress = nil
	resBase, err := Evaluate(context.Background(), base, ytr, yte, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.KNN != 100 || res.LinearRaw < 95 || res.LinearL2 < 95 {
		t.Errorf("separable blobs: kNN %v, linear_raw %v, linear_l2 %v; want 100, >= 95, >= 95", res.KNN, res.LinearRaw, res.LinearL2)
	}
	if res.Align == nil || res.Uniform == nil || res.UniformOn != "views" {
		t.Fatalf("with two views: align %v, uniform %v on %q; want both, on views", res.Align, res.Uniform, res.UniformOn)
	}
	if !(*res.Align > 0 && *res.Align < 0.05) {
		t.Errorf("align %v for views 0.1 apart on features of norm ~5; want small and positive", *res.Align)
	}
	if resBase.Align != nil || resBase.Uniform == nil || resBase.UniformOn != "test" {
		t.Errorf("without views: align %v, uniform on %q; want no align, uniformity of the test features", resBase.Align, resBase.UniformOn)
	}
	if len(res.LinearRawCurve) != 4 || len(res.LinearL2Curve) != 4 || res.Dim != 6 || res.Seconds.Extract != 1.5 {
		t.Errorf("curves %d/%d, dim %d, extract %vs; want 4/4, 6, 1.5", len(res.LinearRawCurve), len(res.LinearL2Curve), res.Dim, res.Seconds.Extract)
	}
	for _, stage := range []string{"blobs: kNN", "blobs: linear_raw", "blobs: linear_l2"} {
		if !strings.Contains(progress.String(), stage) {
			t.Errorf("progress output lacks %q:\n%s", stage, progress.String())
		}
	}

	r := NewReport("blobs", 400, 120, opts)
	r.Add(resBase, res)
	r.Add(FashionMNISTReference()...)
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("table has %d lines, want header + 4 rows + settings:\n%s", len(lines), table.String())
	}
	for i, want := range []string{"method", "blobs ", "blobs again", "raw pixels (pytorch)", "random convnet-s (pytorch)", "blobs: 400 train"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d %q, want it to start with %q (trained rows before baselines)", i, lines[i], want)
		}
	}
	for _, want := range []string{"81.77", "84.51", "83.37", "k=20 T=0.1", "4 epochs", "uniformity of the views/test features"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "eval.json")
	if err := r.WriteJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Results, r.Results) || back.KNN.K != 20 || back.Probe.Epochs != 4 || back.AlignUniform.T != 2 {
		t.Errorf("JSON round trip changed the report:\n%s", raw)
	}
	for _, key := range []string{`"knn"`, `"linear_raw"`, `"linear_l2"`, `"align"`, `"uniform"`, `"linear_raw_curve"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	pngPath := filepath.Join(dir, "linear.png")
	if err := r.WriteProbePNG(pngPath); err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := png.Decode(pf); err != nil {
		t.Errorf("probe chart is not a PNG: %v", err)
	}
	if n := len(r.ProbeChart().Series); n != 4 {
		t.Errorf("probe chart has %d series, want 4 (2 results × raw/l2; reference rows have no curves)", n)
	}
}

func TestEvaluateNeedsBothSplits(t *testing.T) {
	_, err := Evaluate(context.Background(), Features{Name: "half"}, nil, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "extract both splits") {
		t.Errorf("error %v, want one asking for both splits", err)
	}
}
