package method

import (
	"math"
	"testing"
)

func TestMomentumAt(t *testing.T) {
	cases := []struct {
		name        string
		target      Target
		step, total int64
		want        float64
	}{
		{"constant", Target{Momentum: 0.99, Schedule: Constant}, 50, 100, 0.99},
		{"empty is constant", Target{Momentum: 0.99}, 50, 100, 0.99},
		{"cosine start", Target{Momentum: 0.996, Schedule: Cosine}, 0, 100, 0.996},
		{"cosine middle", Target{Momentum: 0.996, Schedule: Cosine}, 50, 100, 0.998},
		{"cosine end", Target{Momentum: 0.996, Schedule: Cosine}, 100, 100, 1},
		{"cosine past end", Target{Momentum: 0.996, Schedule: Cosine}, 150, 100, 1},
		{"cosine quarter", Target{Momentum: 0.99, Schedule: Cosine}, 25, 100, 1 - 0.01*(math.Cos(math.Pi/4)+1)/2},
		{"cosine to 0.999", Target{Momentum: 0.99, Schedule: Cosine, FinalMomentum: 0.999}, 100, 100, 0.999},
		{"no total", Target{Momentum: 0.99, Schedule: Cosine}, 5, 0, 0.99},
	}
	for _, c := range cases {
		if got := c.target.MomentumAt(c.step, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{Name: "m", Views: []View{{Name: "a", Recipe: "simclr", Online: true}, {Name: "b", Recipe: "simclr", Target: true}}, Target: &Target{Momentum: 0.99}}
	cases := []struct {
		name    string
		edit    func(*Spec)
		wantErr bool
	}{
		{"valid", func(*Spec) {}, false},
		{"no name", func(s *Spec) { s.Name = "" }, true},
		{"no views", func(s *Spec) { s.Views = nil }, true},
		{"target view without target", func(s *Spec) { s.Target = nil }, true},
		{"momentum above 1", func(s *Spec) { s.Target = &Target{Momentum: 1.5} }, true},
		{"unknown schedule", func(s *Spec) { s.Target = &Target{Momentum: 0.9, Schedule: "linear"} }, true},
		{"view in neither", func(s *Spec) { s.Views = append(s.Views, View{Name: "c", Recipe: "x"}) }, true},
		{"patch tap without patches", func(s *Spec) { s.Taps = []Tap{{Name: "p", Kind: Patches, Layers: []string{"l1"}}} }, true},
		{"layer tap", func(s *Spec) { s.Taps = []Tap{{Name: "f", Kind: Layer, Layers: []string{"l1"}}} }, false},
	}
	for _, c := range cases {
		s := ok
		s.Views = append([]View(nil), ok.Views...)
		c.edit(&s)
		if err := s.Validate(); (err != nil) != c.wantErr {
			t.Errorf("%s: Validate() = %v, wantErr %v", c.name, err, c.wantErr)
		}
	}
}
