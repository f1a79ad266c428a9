package dino

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestHeadSchedulesAndClip: the head's optimizers follow main_dino.py's
// lr_schedule (linear warm-up over warmup_epochs, then a cosine to min_lr)
// and wd_schedule (a cosine from weight_decay to weight_decay_end), both
// read from the Step's metrics and the optimizers, worked by hand for 64
// samples in batches of 8 (8 steps an epoch) over 5 epochs (40 steps) with
// a 1-epoch warm-up; every head gradient the optimizers step on is clipped
// to clip_grad; and the last layer, frozen in epoch 0, is not even decayed.
func TestHeadSchedulesAndClip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const (
		batch, dim, nData, total = 8, 16, 64, 40
		lr0, minLR, clip         = 5e-4, 1e-6, 1e-4
	)
	m := NewMultiCrop(2)
	defer m.Close()
	cfg := method.Params{"out_dim": int64(64), "hidden_dim": int64(32), "bottleneck_dim": int64(16),
		"warmup_epochs": 1.0, "clip_grad": clip} // lr, min_lr, weight decays: the defaults
	if _, err := m.Setup(context.Background(), method.SetupRequest{
		FeatureDims: map[string][]int64{"pooled": {dim}}, Config: cfg, NumSamples: nData,
		TotalSteps: total, Device: "cpu", Seed: 3,
	}); err != nil {
		t.Fatal(err)
	}
	st := m.Stepper().(*step)
	req, err := conformance.RandomStep(m.Spec(), batch, dim, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Features.Drop()
	lastLayer := func() string {
		v := st.last.VS.Variables()["last_layer.weight"]
		b, err := tensor.AppendBytes(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		step   int64
		lr, wd float64 // hand-worked: warm-up lr0·(k+1)/8, then min + (lr0−min)·½(1+cos(π(k−8)/32))
	}{
		{0, lr0 / 8, 0.04},
		{3, lr0 * 4 / 8, 0.4 - 0.18*(1+math.Cos(math.Pi*3/40))},
		{7, lr0, 0.4 - 0.18*(1+math.Cos(math.Pi*7/40))},
		{8, lr0, 0.4 - 0.18*(1+math.Cos(math.Pi/5))},
		{24, minLR + (lr0-minLR)*0.5, 0.4 - 0.18*(1+math.Cos(math.Pi*24/40))},
		{16, minLR + (lr0-minLR)*0.5*(1+math.Sqrt2/2), 0.4 - 0.18*(1+math.Cos(math.Pi*16/40))},
		{20, minLR + (lr0-minLR)*0.5*(1+math.Cos(math.Pi*3/8)), 0.22},
		{39, minLR + (lr0-minLR)*0.5*(1+math.Cos(math.Pi*31/32)), 0.4 - 0.18*(1+math.Cos(math.Pi*39/40))},
	}
	for _, c := range cases {
		before := lastLayer()
		req.Step = c.step
		resp, err := m.Step(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Grads.Drop()
		mt := resp.Metrics
		if math.Abs(mt["lr"]-c.lr) > 1e-15 || math.Abs(mt["wd"]-c.wd) > 1e-15 {
			t.Errorf("step %d: lr %v, wd %v; want %v, %v", c.step, mt["lr"], mt["wd"], c.lr, c.wd)
		}
		for _, o := range []interface {
			LR() float64
			WeightDecay() float64
		}{m.Heads().Opt(), st.last.Opt} {
			if o.LR() != mt["lr"] || o.WeightDecay() != mt["wd"] {
				t.Errorf("step %d: an optimizer stepped at lr %v, wd %v; the metrics say %v, %v", c.step, o.LR(), o.WeightDecay(), mt["lr"], mt["wd"])
			}
		}
		if !(mt["grad_norm_max"] > clip) {
			t.Errorf("step %d: grad_norm_max %v; want the pre-clip norm, above clip_grad %v", c.step, mt["grad_norm_max"], clip)
		}
		for i, p := range st.params {
			g := p.MustGrad(false)
			if g.MustDefined() {
				n := g.MustNorm(false)
				if v := n.Float64Values()[0]; v > clip*(1+1e-5) {
					t.Errorf("step %d: head parameter %d has gradient norm %v after clipping to %v", c.step, i, v, clip)
				}
				n.MustDrop()
			}
			g.MustDrop()
		}
		frozen := c.step < nData/batch // freeze_last_layer 1: epoch 0
		if (mt["last_layer_frozen"] == 1) != frozen || (lastLayer() == before) != frozen {
			t.Errorf("step %d: last_layer_frozen %v, last layer unchanged %v; want frozen = %v", c.step, mt["last_layer_frozen"], lastLayer() == before, frozen)
		}
	}
}

// TestScheduleParams: 0 keeps the weight decay constant (as the host's
// weight_decay_end), min_lr above lr and negative values are refused.
func TestScheduleParams(t *testing.T) {
	var c Config
	if err := methodkit.Decode(Name, method.Params{"weight_decay_end": 0.0, "min_lr": 0.0}, &c, true); err != nil {
		t.Fatal(err)
	}
	h := &methodkit.Heads{Total: 100}
	for _, step := range []int64{0, 50, 99} {
		if lr, wd := c.Schedules(h, step, 8); wd != 0.04 || (step == 0) != (lr == 5e-4) {
			t.Errorf("step %d: lr %v, wd %v; want no warm-up (no data set size), wd constant 0.04", step, lr, wd)
		}
	}
	for _, bad := range []method.Params{{"min_lr": 1.0}, {"clip_grad": -1.0}, {"weight_decay_end": -0.1}, {"warmup_epochs": -1.0}} {
		if err := methodkit.Decode(Name, bad, &Config{}, true); err == nil {
			t.Errorf("config %v accepted", bad)
		}
	}
}
