package dino_test

import (
	"math"
	"testing"

	"github.com/selfsup/selfsup/plugins/dino"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, dino.Constructor(), "")
}

func TestStep(t *testing.T) {
	cases := []struct {
		name string
		cfg  method.Params
	}{
		// small heads keep the test fast; the last layer frozen (the test
		// knows no data set size, so every step is in epoch 0)
		{"frozen_last_layer", method.Params{"out_dim": int64(256), "hidden_dim": int64(64), "bottleneck_dim": int64(32)}},
		{"trained_last_layer", method.Params{"out_dim": int64(256), "hidden_dim": int64(64), "bottleneck_dim": int64(32), "freeze_last_layer": 0.0, "norm_last_layer": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conformance.TestStep(t, dino.Constructor(), conformance.StepOptions{Config: c.cfg, MemorySteps: 150})
		})
	}
}

// TestTeacherTemp checks the warm-up against main_dino.py's schedule,
// np.concatenate((np.linspace(0.04, 0.07, 30), np.ones(nepochs-30)*0.07)).
func TestTeacherTemp(t *testing.T) {
	cases := []struct {
		epoch, warmup int64
		want          float64
	}{
		{0, 30, 0.04},
		{29, 30, 0.07},
		{15, 30, 0.04 + 0.03*15.0/29},
		{30, 30, 0.07},
		{100, 30, 0.07},
		{0, 0, 0.07},
		{0, 1, 0.04},
	}
	for _, c := range cases {
		if got := dino.TeacherTemp(c.epoch, c.warmup, 0.04, 0.07); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("epoch %d of a %d-epoch warm-up: %v, want %v", c.epoch, c.warmup, got, c.want)
		}
	}
}

func TestSpec(t *testing.T) {
	s := dino.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Views) != dino.GlobalCrops+dino.LocalCrops || s.Target == nil || s.Target.Momentum != 0.996 || s.Target.Schedule != method.Cosine {
		t.Fatalf("spec %+v: want 10 crops and a cosine 0.996 target", s)
	}
	for i, v := range s.Views {
		if global := i < dino.GlobalCrops; v.Target != global || !v.Online {
			t.Errorf("view %+v: global crops go through the teacher, local crops only through the student", v)
		}
	}
}
