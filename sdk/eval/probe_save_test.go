package eval

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestSavedProbeReproducesAccuracy: the probe's Weight and Bias, written by
// SaveLinear and read back, give logits = x·Wᵀ + b whose test accuracy is
// exactly the probe's, on separable blobs and on overlapping ones (where
// the accuracy is not a trivial 100).
func TestSavedProbeReproducesAccuracy(t *testing.T) {
	for _, c := range []struct {
		name  string
		noise float64
	}{{"separable", 0}, {"overlapping", 2}} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			train, ytr := blobs(rng, 600, 8, 3)
			test, yte := blobs(rng, 300, 8, 3)
			for _, rows := range [][][]float64{train, test} {
				for i := range rows {
					for j := range rows[i] {
						rows[i][j] += c.noise * rng.NormFloat64()
					}
				}
			}
			xtr, xte := matrix(t, train), matrix(t, test)
			defer xtr.MustDrop()
			defer xte.MustDrop()
			res, err := LinearProbe(context.Background(), xtr, ytr, xte, yte, ProbeOptions{Epochs: 5, LR: 0.05, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if c.noise == 0 && res.Accuracy != 100 {
				t.Errorf("accuracy %v on separable blobs, want 100", res.Accuracy)
			}
			if c.noise > 0 && res.Accuracy == 100 {
				t.Errorf("accuracy 100 on overlapping blobs: the check is trivial")
			}
			if len(res.Weight) != 3 || len(res.Weight[0]) != 8 || len(res.Bias) != 3 {
				t.Fatalf("weight %d×%d, bias %d; want 3×8 and 3", len(res.Weight), len(res.Weight[0]), len(res.Bias))
			}
			path := filepath.Join(t.TempDir(), "probe.safetensors")
			if err := SaveLinear(path, res.Weight, res.Bias, map[string]string{"features": "raw"}); err != nil {
				t.Fatal(err)
			}
			tensors, meta, err := safetensors.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, x := range tensors {
					x.MustDrop()
				}
			}()
			if len(tensors) != 2 || meta["features"] != "raw" || meta["format"] != "pt" {
				t.Errorf("file holds %d tensors, metadata %v; want weight, bias and the metadata", len(tensors), meta)
			}
			w, b := tensors["weight"], tensors["bias"]
			if w == nil || b == nil {
				t.Fatal("no weight or bias in the file")
			}
			if w.DType() != gotch.Float || b.DType() != gotch.Float {
				t.Errorf("dtypes %v, %v; want float32", w.DType(), b.DType())
			}
			if ws, bs := w.MustSize(), b.MustSize(); len(ws) != 2 || ws[0] != 3 || ws[1] != 8 || len(bs) != 1 || bs[0] != 3 {
				t.Fatalf("weight %v, bias %v; want [3 8] and [3]", ws, bs)
			}
			s := tensor.NewScope()
			defer s.Close()
			logits := s.T(s.T(xte.MustMm(s.T(w.MustT(false)), false)).MustAdd(b, false))
			pred, err := tensor.Int64s(s.T(logits.MustArgmax([]int64{1}, false, false)))
			if err != nil {
				t.Fatal(err)
			}
			hits := 0
			for i, p := range pred {
				if int(p) == yte[i] {
					hits++
				}
			}
			if got := 100 * float64(hits) / float64(len(yte)); got != res.Accuracy {
				t.Errorf("the saved classifier's accuracy is %v, the probe's %v", got, res.Accuracy)
			}
		})
	}
}

// TestEvaluateHandsOutTrainedProbes: Evaluate reports its raw and L2 probes
// through ProbeOptions.Trained, with the accuracies it reports.
func TestEvaluateHandsOutTrainedProbes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	train, ytr := blobs(rng, 300, 6, 3)
	test, yte := blobs(rng, 90, 6, 3)
	xtr, xte := matrix(t, train), matrix(t, test)
	defer xtr.MustDrop()
	defer xte.MustDrop()
	got := map[bool]ProbeResult{}
	opts := Options{KNN: KNNOptions{K: 5}, Probe: ProbeOptions{Epochs: 2, Trained: func(o ProbeOptions, r ProbeResult) { got[o.Normalize] = r }}}
	res, err := Evaluate(context.Background(), Features{Name: "blobs", Train: xtr, Test: xte}, ytr, yte, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok1 := got[false]
	l2, ok2 := got[true]
	if !ok1 || !ok2 {
		t.Fatalf("Trained saw raw %v, l2 %v; want both", ok1, ok2)
	}
	if raw.Accuracy != res.LinearRaw || l2.Accuracy != res.LinearL2 {
		t.Errorf("Trained got accuracies %v (raw), %v (l2); Evaluate reports %v, %v", raw.Accuracy, l2.Accuracy, res.LinearRaw, res.LinearL2)
	}
	if len(raw.Weight) != 3 || len(raw.Weight[0]) != 6 || len(raw.Bias) != 3 {
		t.Errorf("raw probe weight %d×%d, bias %d; want 3×6, 3", len(raw.Weight), len(raw.Weight[0]), len(raw.Bias))
	}
}
