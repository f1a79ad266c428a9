package train

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/plugin"
)

// buildPlugin builds a plugin binary of this module into a temporary folder.
func buildPlugin(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestMoCoPluginTrainsTrunk is the two-view SSL step across the boundary: a
// convnet-s trunk and its EMA target in this process, the moco method (head,
// key head, queue) in a plugin process. On real Fashion-MNIST images the
// trunk's weights change and the loss falls.
func TestMoCoPluginTrainsTrunk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	bin := buildPlugin(t, "./plugins/moco/cmd/selfsup-moco", "selfsup-moco")
	m, err := plugin.Open(ctx, bin, plugin.Options{Method: "moco"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(ctx, Config{
		BatchSize: 64, Steps: 40, Seed: 3, Out: t.TempDir(),
		// a queue that fills in 4 steps; a momentum and BatchNorm splits
		// that are not the defaults, which the host must learn from Setup
		Method: map[string]any{"K": 256, "momentum": 0.95, "bn_splits": 4},
	}, Options{Data: smallData(t), Method: m, Log: zerolog.Nop()})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.target == nil {
		t.Fatal("moco's Spec declares an EMA target; the trainer made none")
	}
	if tr.spec.Target.Momentum != 0.95 || tr.spec.BatchNormSplits != 4 || !tr.spec.Target.Shuffle {
		t.Fatalf("the host built from momentum %v, %d BatchNorm splits, shuffle %v; the plugin was set up with 0.95, 4 and shuffled keys",
			tr.spec.Target.Momentum, tr.spec.BatchNormSplits, tr.spec.Target.Shuffle)
	}
	before := trunkBytes(t, tr)
	var early, late float64
	for i := range 40 {
		rec, err := tr.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i >= 5 && i < 10: // after the queue filled with real keys
			early += rec.Loss / 5
		case i >= 35:
			late += rec.Loss / 5
		}
	}
	after := trunkBytes(t, tr)
	changed := 0
	for k := range before {
		if string(before[k]) != string(after[k]) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no trunk tensor changed after 40 steps with the plugin's gradients")
	}
	t.Logf("moco plugin: loss %.4f (steps 5-9) -> %.4f (steps 35-39); %d of %d trunk tensors changed", early, late, changed, len(before))
	if !(late < early) {
		t.Errorf("loss did not fall: %.4f -> %.4f", early, late)
	}
}
