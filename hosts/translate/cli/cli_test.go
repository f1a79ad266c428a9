package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String() + errb.String()
}

// TestDataTrainApply: a tiny rendered set, one epoch of a small CUT with
// PatchNCE in process, and the trained generator applied to a folder.
func TestDataTrainApply(t *testing.T) {
	dir := t.TempDir()
	data, runDir, outDir := filepath.Join(dir, "data"), filepath.Join(dir, "run"), filepath.Join(dir, "out")
	if code, log := run(t, "data", "--out", data, "--size", "32", "--train", "6", "--test", "2"); code != 0 {
		t.Fatalf("data: exit %d\n%s", code, log)
	}
	if code, log := run(t, "train", "--data", data, "--out", runDir, "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4",
		"--load-size", "32", "--crop-size", "32", "--num-patches", "16", "--epochs", "2", "--in-process"); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, log)
	}
	if code, log := run(t, "train", "--data", data, "--out", runDir, "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4",
		"--load-size", "32", "--crop-size", "32", "--num-patches", "16", "--epochs", "3", "--in-process", "--resume"); code != 0 || !strings.Contains(log, "resumed") {
		t.Fatalf("train --resume: exit %d\n%s", code, log)
	}
	for _, f := range []string{"metrics.jsonl", "generator.safetensors", "grids/epoch_002.png", "grids/epoch_003.png", "checkpoint/state.json", "losses.png"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("train wrote no %s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
	if n := strings.Count(string(b), "\n"); n != 18 {
		t.Errorf("metrics.jsonl has %d lines, want 18 (3 epochs of 6)", n)
	}
	if code, log := run(t, "apply", "--generator", filepath.Join(runDir, "generator.safetensors"), "--in", filepath.Join(data, "testA"), "--out", outDir, "--size", "32"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, log)
	}
	if files, _ := filepath.Glob(filepath.Join(outDir, "*.png")); len(files) != 2 {
		t.Errorf("apply wrote %d images, want 2", len(files))
	}
	code, log := run(t, "eval", "--generator", filepath.Join(runDir, "generator.safetensors"), "--data", data, "--size", "32", "--out", filepath.Join(dir, "eval.json"))
	if code != 0 || !strings.Contains(log, "2 pairs of test") || !strings.Contains(log, "SSIM") {
		t.Fatalf("eval: exit %d\n%s", code, log)
	}
	if _, err := os.Stat(filepath.Join(dir, "eval.json")); err != nil {
		t.Errorf("eval wrote no JSON: %v", err)
	}
	for _, bad := range [][]string{{"train"}, {"train", "--data", data, "--mode", "x"}, {"apply"}, {"eval"}, {"data"}, {"nope"}} {
		if code, _ := run(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", bad, code)
		}
	}
	if code, _ := run(t, "--help"); code != 0 {
		t.Errorf("--help exits %d", code)
	}
}
