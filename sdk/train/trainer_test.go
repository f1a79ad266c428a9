package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// pullMethod is a minimal method for testing the loop: loss = mean squared
// distance between the online view's features and the other view's (online
// or EMA target) features, with a step counter as its state.
type pullMethod struct {
	target    bool
	steps     int64
	momentum  float64 // of the target; 0.9 unless configured
	inference bool    // run the target in inference mode (with momentum 1: a frozen teacher)
	pass      method.Pass
	splits    int
	shuffle   bool
	lastV2    []float32 // the last step's v2 features
}

func (p *pullMethod) Spec() method.Spec {
	s := method.Spec{Name: "pull", Views: []method.View{
		{Name: "v1", Recipe: "simclr", Online: true},
		{Name: "v2", Recipe: "simclr", Online: !p.target, Target: p.target},
	}, Pass: p.pass, BatchNormSplits: p.splits}
	if p.target {
		m := p.momentum
		if m == 0 {
			m = 0.9
		}
		s.Target = &method.Target{Momentum: m, Schedule: method.Cosine}
		if p.inference {
			s.Target = &method.Target{Momentum: 1, Schedule: method.Constant, Inference: true}
		}
		s.Target.Shuffle = p.shuffle
	}
	return s
}

func (p *pullMethod) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if d := req.FeatureDims["pooled"]; len(d) != 1 || d[0] != 128 {
		return method.SetupResponse{}, fmt.Errorf("feature dims %v", req.FeatureDims)
	}
	if m, err := req.Config.FloatOr("momentum", 0); err != nil {
		return method.SetupResponse{}, err
	} else if m != 0 {
		p.momentum = m
	}
	return method.SetupResponse{}, nil
}

func (p *pullMethod) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	return method.LossOutput{}, fmt.Errorf("not used")
}

func (p *pullMethod) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	k2 := method.FeatureKey("v2", "pooled", p.target)
	a, b := req.Features["v1/pooled"], req.Features[k2]
	p.lastV2, _ = tensor.Float32s(b)
	d := a.MustSub(b, false)
	loss := d.MustSquare(false).MustMean(a.DType(), true).Float64Values(true)[0]
	n := float64(tensor.Numel(a.MustSize()))
	g1 := d.MustMulScalar(ts.FloatScalar(2/n), false)
	grads := method.Tensors{"v1/pooled": g1}
	if !p.target {
		grads["v2/pooled"] = d.MustMulScalar(ts.FloatScalar(-2/n), false)
	}
	d.MustDrop()
	if req.Train {
		p.steps++
	}
	return method.StepResponse{Loss: loss, Grads: grads, Metrics: map[string]float64{"steps": float64(p.steps)}}, nil
}

func (p *pullMethod) Save(ctx context.Context) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, uint64(p.steps)), nil
}

func (p *pullMethod) Load(ctx context.Context, b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("state of %d bytes", len(b))
	}
	p.steps = int64(binary.LittleEndian.Uint64(b))
	return nil
}

func (p *pullMethod) Close() error { return nil }

func smallData(t *testing.T) *data.Dataset {
	t.Helper()
	ds, err := data.LoadFashionMNIST("", data.Train)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ds.Head(256)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func newTrainer(t *testing.T, ds *data.Dataset, target bool, out string, steps int64) (*Trainer, *pullMethod) {
	t.Helper()
	m := &pullMethod{target: target}
	tr, err := New(context.Background(), Config{BatchSize: 32, Steps: steps, Seed: 7, Out: out, LogEvery: 1}, Options{Data: ds, Method: m, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return tr, m
}

func trunkBytes(t *testing.T, tr *Trainer) map[string][]byte {
	t.Helper()
	return encoderBytes(t, tr.Trunk())
}

func TestStepsLowerLossAndChangeTrunk(t *testing.T) {
	runtime.LockOSThread()
	for _, target := range []bool{false, true} {
		t.Run(fmt.Sprintf("target=%v", target), func(t *testing.T) {
			runtime.LockOSThread()
			tr, _ := newTrainer(t, smallData(t), target, t.TempDir(), 24)
			defer tr.Close()
			before := trunkBytes(t, tr)
			var first, last float64
			for i := range 24 {
				rec, err := tr.Step(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if i < 4 {
					first += rec.Loss / 4
				}
				if i >= 20 {
					last += rec.Loss / 4
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
				t.Error("no trunk tensor changed")
			}
			if !(last < first) {
				t.Errorf("loss did not fall: %.5f -> %.5f", first, last)
			}
		})
	}
}

// TestResumeIsExact: 6 steps straight, or 3 steps + checkpoint + a fresh
// trainer resumed from it + 3 steps, end with bit-identical trunk weights.
func TestResumeIsExact(t *testing.T) {
	runtime.LockOSThread()
	ds := smallData(t)
	ctx := context.Background()

	straight, _ := newTrainer(t, ds, true, t.TempDir(), 6)
	defer straight.Close()
	if err := straight.Run(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	first, _ := newTrainer(t, ds, true, out, 6)
	for range 3 {
		if _, err := first.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := filepath.Join(out, CheckpointFile)
	if err := first.Save(ctx, ckpt); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second, m := newTrainer(t, ds, true, out, 6)
	defer second.Close()
	if err := second.Resume(ctx, ckpt); err != nil {
		t.Fatal(err)
	}
	if m.steps != 3 || second.StepsDone() != 3 {
		t.Fatalf("resumed at step %d with method state %d, want 3 and 3", second.StepsDone(), m.steps)
	}
	if err := second.Run(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, b := trunkBytes(t, straight), trunkBytes(t, second)
	for k := range a {
		if string(a[k]) != string(b[k]) {
			t.Errorf("trunk tensor %s differs after resume", k)
		}
	}
	// The run folder has what a person looks at.
	for _, f := range []string{MetricsFile, CheckpointFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run folder lacks %s: %v", f, err)
		}
	}
	enc, ck, err := LoadTrunk(ckpt, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Method != "pull" || ck.Step != 6 || ck.Encoder != "convnet-s" {
		t.Errorf("checkpoint info %+v", ck)
	}
	for name, v := range enc.VarStore().Variables() {
		x := v
		got, _ := tensor.AppendBytes(nil, &x)
		if string(got) != string(b[name]) {
			t.Errorf("LoadTrunk: %s differs from the trained trunk", name)
		}
	}
	tensors, meta, err := safetensors.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tensors {
		x.MustDrop()
	}
	if _, ok := meta["selfsup"]; !ok {
		t.Error("checkpoint lacks its selfsup metadata")
	}
}

// TestConfigReachesSpec: a method's configuration can change its Spec (here
// the target momentum); the trainer builds from the Spec after Setup.
func TestConfigReachesSpec(t *testing.T) {
	runtime.LockOSThread()
	m := &pullMethod{target: true}
	tr, err := New(context.Background(), Config{BatchSize: 32, Steps: 2, Out: t.TempDir(), Method: method.Params{"momentum": 0.5}},
		Options{Data: smallData(t), Method: m, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rec, err := tr.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Momentum != 0.5 {
		t.Errorf("first step's target momentum %v, want the configured 0.5", rec.Momentum)
	}
}

// TestFrozenTeacher: a target at momentum 1 in inference mode (the teacher
// of simclrv2_distill) keeps every variable and BatchNorm statistic of the
// trunk it was copied from while the trunk trains: a training-mode forward
// would move its running statistics, an EMA update would copy the trunk's.
func TestFrozenTeacher(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := &pullMethod{target: true, inference: true}
	tr, err := New(context.Background(), Config{BatchSize: 32, Steps: 5, Seed: 7, Out: t.TempDir()}, Options{Data: smallData(t), Method: m, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before, trunkBefore := encoderBytes(t, tr.target), trunkBytes(t, tr)
	for range 5 {
		if _, err := tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sameBytes(t, "frozen target", encoderBytes(t, tr.target), before)
	changed := false
	for k, v := range trunkBytes(t, tr) {
		changed = changed || !bytes.Equal(v, trunkBefore[k])
	}
	if !changed {
		t.Error("the trunk did not train")
	}
}

// TestClipAndWeightDecaySchedule: with clip_grad, weight_decay_end and
// min_lr set (main_dino.py's clip_grad, weight_decay_end, min_lr), every
// step sets the trunk's weight decay to the cosine from weight_decay to
// weight_decay_end at its step, the learning rate's cosine ends at min_lr,
// and each trunk gradient the optimizer steps on is clipped to clip_grad
// (its pre-clip maximum logged as trunk_grad_norm_max). Without them the
// metrics are the method's alone.
func TestClipAndWeightDecaySchedule(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ds := smallData(t)
	const steps, clip, lr, minLR = 4, 1e-3, 1e-3, 1e-4
	cfg := Config{BatchSize: 32, Steps: steps, Seed: 7, Out: t.TempDir(), Cosine: true, MinLR: minLR,
		Optimizer: optim.Config{Name: "adamw", LR: lr, WeightDecay: 0.04}, WeightDecayEnd: 0.4, ClipGrad: clip}
	tr, err := New(context.Background(), cfg, Options{Data: ds, Method: &pullMethod{target: true}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for k := range steps {
		rec, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// utils.cosine_scheduler(0.04, 0.4, ...)[k] over 4 steps
		wantWD := 0.4 + 0.5*(0.04-0.4)*(1+math.Cos(math.Pi*float64(k)/steps))
		if got := rec.Metrics["trunk_wd"]; math.Abs(got-wantWD) > 1e-15 || tr.opt.WeightDecay() != got {
			t.Errorf("step %d: weight decay %v (optimizer %v), want %v", k, got, tr.opt.WeightDecay(), wantWD)
		}
		if wantLR := minLR + (lr-minLR)*0.5*(1+math.Cos(math.Pi*float64(k)/steps)); math.Abs(rec.LR-wantLR) > 1e-15 {
			t.Errorf("step %d: learning rate %v, want %v", k, rec.LR, wantLR)
		}
		pre, ok := rec.Metrics["trunk_grad_norm_max"]
		if !ok || !(pre > clip) {
			t.Fatalf("step %d: trunk_grad_norm_max %v (recorded %v); want the pre-clip norm, above %v", k, pre, ok, clip)
		}
		if rec.Metrics["steps"] != float64(k+1) {
			t.Errorf("step %d: the method's metrics were lost: %v", k, rec.Metrics)
		}
		// The gradients the optimizer stepped on are still in .grad.
		for i, p := range tr.params {
			g := p.MustGrad(false)
			if g.MustDefined() {
				n := g.MustNorm(false)
				if v := n.Float64Values()[0]; v > clip*(1+1e-5) {
					t.Errorf("step %d: trunk parameter %d has gradient norm %v after clipping to %v", k, i, v, clip)
				}
				n.MustDrop()
			}
			g.MustDrop()
		}
	}

	plain, _ := newTrainer(t, ds, true, t.TempDir(), 2)
	defer plain.Close()
	rec, err := plain.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Metrics) != 1 || plain.opt.WeightDecay() != plain.cfg.Optimizer.WeightDecay {
		t.Errorf("without clip_grad and weight_decay_end: metrics %v, weight decay %v; want the method's metrics and a constant decay", rec.Metrics, plain.opt.WeightDecay())
	}
}

// TestViewPasses: views go through the trunk each on its own (two
// BatchNorm batches a step) or together as one batch of 2N (one); a
// shuffled target's features come back in the images' order (equal to an
// unshuffled pass, BatchNorm being blind to order), and with BatchNorm
// splits the shuffle changes what each image is normalised with.
func TestViewPasses(t *testing.T) {
	runtime.LockOSThread()
	ds := smallData(t)
	ctx := context.Background()
	step := func(p *pullMethod) (*Trainer, float64) {
		tr, err := New(ctx, Config{BatchSize: 32, Steps: 2, Seed: 7, Out: t.TempDir()}, Options{Data: ds, Method: p, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		rec, err := tr.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tr, rec.Loss
	}
	batches := func(tr *Trainer) int64 {
		v := tr.Trunk().VarStore().Variables()["1.num_batches_tracked"]
		n, err := tensor.Int64s(&v)
		if err != nil {
			t.Fatal(err)
		}
		return n[0]
	}
	each, lossEach := step(&pullMethod{})
	together, lossTogether := step(&pullMethod{pass: method.Together})
	if b := batches(each); b != 2 {
		t.Errorf("each view alone: %d BatchNorm batches in a step, want 2", b)
	}
	if b := batches(together); b != 1 {
		t.Errorf("views together: %d BatchNorm batches in a step, want 1", b)
	}
	if lossEach == lossTogether {
		t.Error("batch statistics over 2N images gave the loss of N-image statistics")
	}

	plain := &pullMethod{target: true}
	step(plain)
	shuffled := &pullMethod{target: true, shuffle: true}
	step(shuffled)
	if d := maxAbsDiff32(plain.lastV2, shuffled.lastV2); d > 1e-5 {
		t.Errorf("shuffled target's features differ from the unshuffled ones by %.3g: not restored to the images' order", d)
	}
	split := &pullMethod{target: true, splits: 4}
	step(split)
	splitShuffled := &pullMethod{target: true, splits: 4, shuffle: true}
	step(splitShuffled)
	if d := maxAbsDiff32(split.lastV2, splitShuffled.lastV2); d < 1e-4 {
		t.Errorf("with 4 BatchNorm splits the shuffle changed the target's features by only %.3g", d)
	}
	if _, err := New(ctx, Config{BatchSize: 30, Steps: 2, Seed: 7, Out: t.TempDir()}, Options{Data: ds, Method: &pullMethod{splits: 4}, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "batch size") {
		t.Errorf("batch 30 in 4 splits: %v, want an error about the batch size", err)
	}
}

func maxAbsDiff32(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
