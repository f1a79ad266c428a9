package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate at each step: linear warm-up from 0 to
// the base rate over Warmup steps, then a half-cosine from the base rate down
// to Final·base at Total (solo-learn's and SimCLR's warmup_cosine). Cosine
// false keeps the base rate after warm-up.
type Schedule struct {
	Base   float64 `json:"base" yaml:"base"`
	Warmup int64   `json:"warmup_steps,omitempty" yaml:"warmup_steps,omitempty"`
	Total  int64   `json:"total_steps" yaml:"total_steps"`
	Cosine bool    `json:"cosine" yaml:"cosine"`
	Final  float64 `json:"final_fraction,omitempty" yaml:"final_fraction,omitempty"`
}

// At returns the learning rate for step (0-based).
func (s Schedule) At(step int64) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	if !s.Cosine || s.Total <= s.Warmup {
		return s.Base
	}
	t := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	t = math.Min(math.Max(t, 0), 1)
	final := s.Final * s.Base
	return final + (s.Base-final)*0.5*(1+math.Cos(math.Pi*t))
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	if s.Base <= 0 || s.Warmup < 0 || s.Total < 0 || s.Final < 0 || s.Final > 1 {
		return fmt.Errorf("invalid learning-rate schedule %+v", s)
	}
	return nil
}

// CosineSchedule is facebookresearch/dino's utils.cosine_scheduler(Start,
// End, epochs, niter_per_ep) without warm-up, which main_dino.py uses for
// the weight decay (0.04 to 0.4): the value at step t (0-based) of T =
// Total steps is End + ½(Start − End)(1 + cos(π t/T)). It starts at Start
// and approaches End at the last step; steps past Total stay at End, and
// with Total ≤ 0 it is constant at Start. End may be above Start.
type CosineSchedule struct {
	Start float64 `json:"start" yaml:"start"`
	End   float64 `json:"end" yaml:"end"`
	Total int64   `json:"total_steps" yaml:"total_steps"`
}

// At returns the value for step (0-based).
func (s CosineSchedule) At(step int64) float64 {
	if s.Total <= 0 {
		return s.Start
	}
	t := math.Min(math.Max(float64(step)/float64(s.Total), 0), 1)
	return s.End + 0.5*(s.Start-s.End)*(1+math.Cos(math.Pi*t))
}
