package moco_test

import (
	"testing"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

func TestConformance(t *testing.T) {
	for _, c := range moco.Constructors() {
		t.Run(c.Name, func(t *testing.T) { conformance.Test(t, c, "") })
	}
}

func TestStep(t *testing.T) {
	small := map[string]method.Params{
		// a queue that wraps within the test's steps
		moco.MoCoName: {"K": int64(96)},
	}
	for _, c := range moco.Constructors() {
		t.Run(c.Name, func(t *testing.T) {
			conformance.TestStep(t, c, conformance.StepOptions{Config: small[c.Name]})
		})
	}
}

func TestSpecs(t *testing.T) {
	cases := []struct {
		ctor     method.Constructor
		momentum float64
		schedule method.Schedule
		online   []string
		target   []string
	}{
		{moco.MoCoConstructor(), 0.99, method.Constant, []string{"v1"}, []string{"v2"}},
		{moco.MoCoV3Constructor(), 0.99, method.Cosine, []string{"v1", "v2"}, []string{"v1", "v2"}},
		{moco.CURLConstructor(), 0.95, method.Constant, []string{"anchor"}, []string{"positive"}},
	}
	for _, c := range cases {
		t.Run(c.ctor.Name, func(t *testing.T) {
			s := c.ctor.New().Spec()
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if s.Name != c.ctor.Name || s.Target == nil || s.Target.Momentum != c.momentum || s.Target.Schedule != c.schedule {
				t.Errorf("spec %+v target %+v: want momentum %v, schedule %s", s, s.Target, c.momentum, c.schedule)
			}
			var online, target []string
			for _, v := range s.Views {
				if v.Online {
					online = append(online, v.Name)
				}
				if v.Target {
					target = append(target, v.Name)
				}
			}
			if len(online) != len(c.online) || len(target) != len(c.target) {
				t.Errorf("online views %v, target views %v; want %v and %v", online, target, c.online, c.target)
			}
		})
	}
}
