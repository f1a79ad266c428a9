package swav_test

import (
	"math"
	"testing"

	"github.com/selfsup/selfsup/plugins/swav"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, swav.Constructor(), "")
}

func TestStep(t *testing.T) {
	cases := []struct {
		name string
		cfg  method.Params
	}{
		{"defaults", nil},
		// the queue from the first step (it fills after two steps of 32),
		// prototypes trained from step 2
		{"queue", method.Params{"queue_length": int64(64), "epoch_queue_starts": 0.0, "freeze_prototypes_niters": int64(2), "nmb_prototypes": int64(30)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conformance.TestStep(t, swav.Constructor(), conformance.StepOptions{Config: c.cfg, MemorySteps: 300})
		})
	}
}

// TestSinkhorn checks the codes' marginals on a hand-made case: after the
// last (column) normalisation every sample's codes sum to 1, and a uniform
// score matrix gives uniform codes 1/K.
func TestSinkhorn(t *testing.T) {
	x, err := tensor.FromFloat64([]float64{0, 0, 0, 0, 0, 0}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	var v []float64
	tensor.Pinned(func() {
		q := swav.Sinkhorn(x, 0.05, 3)
		defer q.MustDrop()
		v, err = tensor.Float64s(q)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range v {
		if math.Abs(c-1.0/3) > 1e-12 {
			t.Errorf("code %d = %v, want 1/3", i, c)
		}
	}
	y, _ := tensor.FromFloat64([]float64{0.9, 0.1, -0.3, 0.2, 0.5, 0.4, -0.8, 0.3, 0.6, 0.1, 0.7, -0.2}, 4, 3)
	defer y.MustDrop()
	tensor.Pinned(func() {
		q := swav.Sinkhorn(y, 0.05, 3)
		defer q.MustDrop()
		v, err = tensor.Float64s(q)
	})
	for r := range 4 {
		if sum := v[3*r] + v[3*r+1] + v[3*r+2]; math.Abs(sum-1) > 1e-12 {
			t.Errorf("codes of sample %d sum to %v, want 1", r, sum)
		}
	}
}

func TestSpec(t *testing.T) {
	s := swav.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Views) != swav.GlobalCrops+swav.LocalCrops || s.Views[0].Recipe != "simclr" || s.Views[2].Recipe != "dino-local" || s.Target != nil {
		t.Errorf("spec %+v: want 2 global simclr crops, then dino-local crops, no target", s)
	}
}

// TestQueueConformance: the queue variant of the loss (METHODS.md, swav)
// against cases from a float64 transcription of main_swav.py's loss with
// its queue (testdata/make_queue_cases.py): a full queue, one still
// filling, and use_the_queue carried from slot 0 to slot 1.
func TestQueueConformance(t *testing.T) {
	conformance.Test(t, swav.Constructor(), "testdata/queue")
}
