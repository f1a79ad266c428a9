package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/eval"
	"github.com/selfsup/selfsup/sdk/train"
)

// TestEmbed runs the example end to end on a small budget: the loss falls,
// the report has the trunk's row and both baselines, and the run folder
// holds the files a user looks at.
func TestEmbed(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skipf("Fashion-MNIST is not installed (%v); apt-get install dataset-fashion-mnist", err)
	}
	out := t.TempDir()
	res, err := run(context.Background(), options{steps: 40, batch: 64, subset: 2000, bank: 2000, test: 500, out: out})
	if err != nil {
		t.Fatal(err)
	}
	n := len(res.losses)
	if n != 40 {
		t.Fatalf("%d steps recorded, want 40", n)
	}
	first, last := mean(res.losses[:10]), mean(res.losses[n-10:])
	if !(last < first) {
		t.Errorf("mean loss of the first 10 steps %.4f, of the last 10 %.4f: want it to fall", first, last)
	}
	if len(res.report.Results) < 3 || res.report.Results[0].Baseline || !res.report.Results[1].Baseline {
		t.Fatalf("report rows %+v: want the trunk's row, then the baselines", res.report.Results)
	}
	if knn := res.report.Results[0].KNN; knn < 50 {
		t.Errorf("kNN of the trained trunk %.2f %%, want above 50 (chance is 10)", knn)
	}
	for _, f := range []string{train.CheckpointFile, train.LossPlotFile, eval.ReportFile, eval.ProbePNG, "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run folder: %v", err)
		}
	}
	t.Logf("loss %.4f -> %.4f; kNN %.2f %%", first, last, res.report.Results[0].KNN)
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
