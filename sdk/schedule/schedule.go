// Package schedule holds the one implementation of training's coefficient
// schedules: a half cosine from a start value to an end value (EMA
// momentum, DINO's weight decay), and the learning rate's linear warm-up
// followed by that cosine. optim's schedules and method.Target.MomentumAt
// are these.
package schedule

import (
	"fmt"
	"math"
)

// Cosine goes from Start at step 0 to End at step Total along a half
// cosine: End + ½(Start − End)(1 + cos(π·t/T)). Steps past Total stay at
// End; with Total ≤ 0 it is constant at Start. End may be above Start
// (momentum 0.996 → 1, weight decay 0.04 → 0.4) or below (a learning rate).
// It is facebookresearch/dino's utils.cosine_scheduler without warm-up and
// BYOL's τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2.
type Cosine struct {
	Start float64 `json:"start" yaml:"start"`
	End   float64 `json:"end" yaml:"end"`
	Total int64   `json:"total_steps" yaml:"total_steps"`
}

// At returns the value for step (0-based).
func (c Cosine) At(step int64) float64 {
	if c.Total <= 0 {
		return c.Start
	}
	t := math.Min(math.Max(float64(step)/float64(c.Total), 0), 1)
	return c.End + 0.5*(c.Start-c.End)*(1+math.Cos(math.Pi*t))
}

// WarmupCosine gives the learning rate at each step: linear warm-up from 0
// to Base over Warmup steps, then the Cosine from Base down to Final·Base
// at Total (solo-learn's and SimCLR's warmup_cosine). Cosine false keeps
// Base after the warm-up.
type WarmupCosine struct {
	Base   float64 `json:"base" yaml:"base"`
	Warmup int64   `json:"warmup_steps,omitempty" yaml:"warmup_steps,omitempty"`
	Total  int64   `json:"total_steps" yaml:"total_steps"`
	Cosine bool    `json:"cosine" yaml:"cosine"`
	Final  float64 `json:"final_fraction,omitempty" yaml:"final_fraction,omitempty"`
}

// At returns the learning rate for step (0-based).
func (s WarmupCosine) At(step int64) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	if !s.Cosine || s.Total <= s.Warmup {
		return s.Base
	}
	return Cosine{Start: s.Base, End: s.Final * s.Base, Total: s.Total - s.Warmup}.At(step - s.Warmup)
}

// Validate checks the schedule.
func (s WarmupCosine) Validate() error {
	if s.Base <= 0 || s.Warmup < 0 || s.Total < 0 || s.Final < 0 || s.Final > 1 {
		return fmt.Errorf("invalid learning-rate schedule %+v", s)
	}
	return nil
}
