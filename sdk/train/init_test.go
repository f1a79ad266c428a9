package train

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func encoderBytes(t *testing.T, enc encoder.Encoder) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, v := range enc.VarStore().Variables() {
		x := v
		b, err := tensor.AppendBytes(nil, &x)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func sameBytes(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for k := range want {
		if string(got[k]) != string(want[k]) {
			t.Errorf("%s: %s differs from the checkpoint's trunk", what, k)
		}
	}
}

// TestInitFromCheckpoint: a run with Config.Init starts its trunk, and the
// target copied from it, from the checkpoint's trunk (not its own seed's);
// a resumed run with the same Init ends up with its own checkpoint's trunk;
// a checkpoint of another encoder or channel count is refused.
func TestInitFromCheckpoint(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	ds := smallData(t)

	src, _ := newTrainer(t, ds, false, t.TempDir(), 2)
	for range 2 {
		if _, err := src.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := filepath.Join(t.TempDir(), CheckpointFile)
	if err := src.Save(ctx, ckpt); err != nil {
		t.Fatal(err)
	}
	want := trunkBytes(t, src)
	src.Close()

	out := t.TempDir()
	cfg := Config{BatchSize: 32, Steps: 4, Seed: 8, Out: out, Init: filepath.Dir(ckpt)} // a run folder stands for its checkpoint
	tr, err := New(ctx, cfg, Options{Data: ds, Method: &pullMethod{target: true}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "trunk", trunkBytes(t, tr), want)
	if tr.target == nil {
		t.Fatal("no target for a method with a Target")
	}
	sameBytes(t, "target", encoderBytes(t, tr.target), want)

	// Without Init the same seed gives another trunk, so the above is Init's doing.
	fresh, err := New(ctx, Config{BatchSize: 32, Steps: 4, Seed: 8, Out: t.TempDir()}, Options{Data: ds, Method: &pullMethod{target: true}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for k, v := range trunkBytes(t, fresh) {
		differs = differs || string(v) != string(want[k])
	}
	fresh.Close()
	if !differs {
		t.Error("a fresh trunk equals the checkpoint's: the test proves nothing")
	}

	// Resume: the run's own checkpoint wins over Init.
	for range 2 {
		if _, err := tr.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	own := filepath.Join(out, CheckpointFile)
	if err := tr.Save(ctx, own); err != nil {
		t.Fatal(err)
	}
	trained, trainedTarget := trunkBytes(t, tr), encoderBytes(t, tr.target)
	tr.Close()
	resumed, err := New(ctx, cfg, Options{Data: ds, Method: &pullMethod{target: true}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if err := resumed.Resume(ctx, own); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "resumed trunk", trunkBytes(t, resumed), trained)
	sameBytes(t, "resumed target", encoderBytes(t, resumed.target), trainedTarget)

	// Mismatches are refused with a clear error.
	_, err = New(ctx, Config{Encoder: "resnet18-cifar", BatchSize: 32, Steps: 1, Out: t.TempDir(), Init: ckpt}, Options{Data: ds, Method: &pullMethod{}, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "convnet-s trunk") {
		t.Errorf("init from a convnet-s checkpoint into resnet18-cifar: %v", err)
	}
	tensors, meta, err := safetensors.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range tensors {
			x.MustDrop()
		}
	}()
	var st map[string]any
	if err := json.Unmarshal([]byte(meta["selfsup"]), &st); err != nil {
		t.Fatal(err)
	}
	st["in_channels"] = 3
	js, _ := json.Marshal(st)
	meta["selfsup"] = string(js)
	rgb := filepath.Join(t.TempDir(), "rgb.safetensors")
	if err := safetensors.WriteFile(rgb, tensors, meta); err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, Config{BatchSize: 32, Steps: 1, Out: t.TempDir(), Init: rgb}, Options{Data: ds, Method: &pullMethod{}, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "3-channel") {
		t.Errorf("init from a 3-channel checkpoint on 1-channel data: %v", err)
	}
	_, err = New(ctx, Config{BatchSize: 32, Steps: 1, Out: t.TempDir(), Init: filepath.Join(t.TempDir(), "none.safetensors")}, Options{Data: ds, Method: &pullMethod{}, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "init") {
		t.Errorf("init from a missing file: %v", err)
	}
}
