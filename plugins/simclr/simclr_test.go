package simclr_test

import (
	"testing"

	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, simclr.Constructor(), "")
}

func TestStep(t *testing.T) {
	conformance.TestStep(t, simclr.Constructor(), conformance.StepOptions{})
}

func TestSpec(t *testing.T) {
	s := simclr.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != nil || len(s.Views) != 2 {
		t.Errorf("spec %+v: want two online views and no target", s)
	}
}
