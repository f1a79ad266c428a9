package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/sdk/train"
)

// writeImageFolder writes perClass 32×32 RGB PNGs for each of 3 classes
// (a bright square in a class-specific corner on noise) under dir/<class>/.
func writeImageFolder(t *testing.T, dir string, perClass int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for c := range 3 {
		sub := filepath.Join(dir, fmt.Sprintf("class%d", c))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range perClass {
			img := image.NewRGBA(image.Rect(0, 0, 32, 32))
			for y := range 32 {
				for x := range 32 {
					v := uint8(rng.IntN(96))
					if x/16+2*(y/16) == c {
						v += 128
					}
					img.Set(x, y, color.RGBA{v, v / 2, 255 - v, 255})
				}
			}
			f, err := os.Create(filepath.Join(sub, fmt.Sprintf("%03d.png", i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}

func runCLI(t *testing.T, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("selfsup %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
}

// TestDistillEndToEnd runs SimCLR v2 self-distillation as a person would:
// pretrain a teacher, eval --save-probe its classifier, then pretrain
// simclrv2_distill with --init (the teacher trunk) and teacher_head (its
// classifier). The distillation must report teacher_loaded = 1, and its
// frozen target (the teacher trunk) must keep the teacher's weights.
func TestDistillEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	trainDir, testDir := filepath.Join(tmp, "train"), filepath.Join(tmp, "test")
	writeImageFolder(t, trainDir, 32, 1)
	writeImageFolder(t, testDir, 10, 2)
	teacher, student := filepath.Join(tmp, "teacher"), filepath.Join(tmp, "student")
	probe := filepath.Join(tmp, "probe", "head.safetensors")
	common := []string{"--in-process", "--data", trainDir, "--steps", "2", "--batch-size", "32", "--threads", "2", "--no-eval"}

	runCLI(t, append([]string{"pretrain", "--method", "simclr", "--out", teacher}, common...)...)
	ckpt := filepath.Join(teacher, train.CheckpointFile)
	runCLI(t, "eval", "--data", trainDir, "--test", testDir, "--k", "5", "--linear-epochs", "1", "--no-baselines",
		"--threads", "2", "--out", filepath.Join(tmp, "eval"), "--save-probe", probe, ckpt)
	runCLI(t, append([]string{"pretrain", "--method", "simclrv2_distill", "--out", student, "--init", ckpt, "--set", "teacher_head=" + probe}, common...)...)

	recs, err := train.ReadMetrics(filepath.Join(student, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d metric records, want 2", len(recs))
	}
	for _, r := range recs {
		if v, ok := r.Metrics["teacher_loaded"]; !ok || v != 1 {
			t.Errorf("step %d: teacher_loaded %v (present %v), want 1", r.Step, v, ok)
		}
	}

	// The probe file is a Linear(D, C): weight [3, 128], bias [3].
	head, _, err := safetensors.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range head {
		defer x.MustDrop()
	}
	if w, b := head["weight"], head["bias"]; w == nil || b == nil || fmt.Sprint(w.MustSize()) != "[3 128]" || fmt.Sprint(b.MustSize()) != "[3]" {
		t.Errorf("probe file holds %v; want weight [3 128], bias [3]", head)
	}

	// The teacher trunk (the student run's frozen target) has the teacher
	// run's weights; BatchNorm buffers follow the online trunk and differ.
	from, _, err := safetensors.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	to, _, err := safetensors.ReadFile(filepath.Join(student, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, m := range []map[string]*ts.Tensor{from, to} {
			for _, x := range m {
				x.MustDrop()
			}
		}
	}()
	compared := 0
	for name, x := range from {
		rest, ok := strings.CutPrefix(name, "trunk/")
		if !ok || strings.Contains(rest, "running_") || strings.Contains(rest, "num_batches") {
			continue
		}
		y, ok := to["target/"+rest]
		if !ok {
			t.Fatalf("the distillation checkpoint lacks target/%s", rest)
		}
		a, _ := tensor.AppendBytes(nil, x)
		b, _ := tensor.AppendBytes(nil, y)
		if !bytes.Equal(a, b) {
			t.Errorf("teacher trunk %s differs from the teacher run's trunk", rest)
		}
		compared++
	}
	if compared == 0 {
		t.Error("no trunk parameters compared")
	}
}

// TestDistillRecipeAndFlags: the distillation recipe (with its init key)
// loads, and --save-probe without an evaluation is refused up front.
func TestDistillRecipeAndFlags(t *testing.T) {
	r, err := loadRecipe(filepath.Join("..", "..", "recipes", "simclrv2_distill-fmnist.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "simclrv2_distill" || r.Train.Init != "" {
		t.Errorf("recipe: method %q, init %q", r.Method, r.Train.Init)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"pretrain", "--no-eval", "--save-probe", filepath.Join(t.TempDir(), "p.safetensors")}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--save-probe") {
		t.Errorf("pretrain --no-eval --save-probe: exit %d, stderr %s", code, stderr.String())
	}
}
