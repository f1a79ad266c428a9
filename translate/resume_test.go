package translate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestResumeIsExact: two epochs in one go, and one epoch then a resumed
// second, end with the same generator weights and the same metrics (but
// the timings), the lr policy's decay and the PatchNCE method's MLPs and
// Adam included.
func TestResumeIsExact(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := WritePaired(ctx, data, PairedOptions{Env: "cartpole-swingup", Size: 32, Train: 5, Test: 1, Every: 3, Episode: 30, Seed: 4}, nil); err != nil {
		t.Fatal(err)
	}
	cfg := smallCUT()
	cfg.NEpochs, cfg.NEpochsDecay = 1, 1
	opts := func(out string, epochs int64, resume bool) TrainOptions {
		return TrainOptions{Data: data, Out: out, Model: cfg, Pre: Preprocess{Load: 36, Crop: 32}, Batch: 1, Epochs: epochs,
			Resume: resume, Device: gotch.CPU, Log: zerolog.Nop(), Progress: &strings.Builder{}}
	}
	straight, split := filepath.Join(dir, "straight"), filepath.Join(dir, "split")
	if err := Train(ctx, opts(straight, 2, false), patchnce.New()); err != nil {
		t.Fatal(err)
	}
	if err := Train(ctx, opts(split, 1, true), patchnce.New()); err != nil {
		t.Fatal(err)
	}
	if err := Train(ctx, opts(split, 2, true), patchnce.New()); err != nil {
		t.Fatal(err)
	}
	a, _, err := safetensors.ReadFile(filepath.Join(straight, "generator.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := safetensors.ReadFile(filepath.Join(split, "generator.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range a {
		va, _ := tensor.AsFloat64s(x)
		vb, _ := tensor.AsFloat64s(b[name])
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("%s[%d]: %v straight, %v resumed", name, i, va[i], vb[i])
			}
		}
	}
	la, lb := metrics(t, straight), metrics(t, split)
	if len(la) != 10 || len(la) != len(lb) {
		t.Fatalf("metrics: %d lines straight, %d resumed; want 10", len(la), len(lb))
	}
	for i := range la {
		la[i].IterS, lb[i].IterS = 0, 0
		if la[i] != lb[i] {
			t.Fatalf("metrics line %d: %+v straight, %+v resumed", i, la[i], lb[i])
		}
	}
	if la[9].LR >= la[0].LR {
		t.Errorf("lr %v in the last iteration, %v in the first: the linear policy did not decay", la[9].LR, la[0].LR)
	}
}

func metrics(t *testing.T, dir string) []metricsLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []metricsLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m metricsLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
