package eval

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/encoder"
)

// TestRunProtocol runs the whole protocol on a Fashion-MNIST subset: the
// trunk's row, the random-init and raw-pixel baselines, the reference rows,
// a saved probe, and the files of a run folder.
func TestRunProtocol(t *testing.T) {
	ctx := context.Background()
	train, test := loadFMNIST(t)
	train, _ = train.Head(1000)
	test, _ = test.Head(300)
	backend.ManualSeed(3)
	trunk, err := encoder.New("convnet-s", 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.VarStore().Destroy()
	dir := t.TempDir()
	p := Protocol{Name: "my trunk", Probe: ProbeOptions{Epochs: 2}, Seed: 3, SaveProbe: filepath.Join(dir, "probe.safetensors")}
	rep, err := Run(ctx, trunk, train, test, p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name)
	}
	want := []string{"my trunk", "random-init convnet-s", "raw pixels"}
	for i, w := range want {
		if i >= len(names) || names[i] != w {
			t.Fatalf("rows %q, want %q first, then the reference rows", names, want)
		}
	}
	if len(names) <= len(want) {
		t.Errorf("rows %q: the Fashion-MNIST reference rows are missing", names)
	}
	mine, pixels := rep.Results[0], rep.Results[2]
	if mine.KNN < 30 || mine.Align == nil || mine.Uniform == nil || len(mine.LinearRawCurve) != 2 {
		t.Errorf("trunk row %+v: want kNN well above chance (10 %%), two probe epochs and alignment/uniformity measured", mine)
	}
	if pixels.KNN < 60 || pixels.LinearRaw < 60 {
		t.Errorf("raw-pixel row %+v: want kNN and probe above 60 %% on this subset", pixels)
	}
	if _, err := os.Stat(p.SaveProbe); err != nil {
		t.Errorf("saved probe: %v", err)
	}
	var out bytes.Buffer
	if err := rep.WriteFiles(dir, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ReportFile, ProbePNG} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(out.String(), "my trunk") {
		t.Errorf("table lacks the trunk's row:\n%s", out.String())
	}

	// Without baselines, one row; the same seed gives the same numbers.
	again, err := Run(ctx, trunk, train, test, Protocol{Name: "my trunk", Probe: ProbeOptions{Epochs: 2}, Seed: 3, NoBaselines: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Results) != 1 || again.Results[0].KNN != mine.KNN || again.Results[0].LinearRaw != mine.LinearRaw {
		t.Errorf("no-baseline run %+v, want one row equal to the first run's trunk row (kNN %v, linear %v)", again.Results, mine.KNN, mine.LinearRaw)
	}
	if _, err := Run(ctx, trunk, train, nil, Protocol{}); err == nil {
		t.Error("no test split: want an error")
	}
}
