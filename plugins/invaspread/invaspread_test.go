package invaspread_test

import (
	"testing"

	"github.com/selfsup/selfsup/plugins/invaspread"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, invaspread.Constructor(), "")
}

func TestStep(t *testing.T) {
	conformance.TestStep(t, invaspread.Constructor(), conformance.StepOptions{MemorySteps: 150})
}

func TestSpec(t *testing.T) {
	s := invaspread.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != nil || len(s.Views) != 2 {
		t.Errorf("spec %+v: want two online views and no target", s)
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range []method.Params{{"T": 0.0}, {"negM": 0.0}, {"negM": 1.5}, {"tau": 0.1}} {
		m := invaspread.New()
		if _, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Config: p, Device: "cpu"}); err == nil {
			t.Errorf("Setup with %v succeeded", p)
		}
		m.Close()
	}
}
