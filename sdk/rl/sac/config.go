package sac

import (
	"errors"
	"fmt"
)

// Config is the agent's architecture and hyper-parameters. Default gives
// MishaLaskin/curl's train.py with scripts/run.sh (batch 128 is the
// runner's).
type Config struct {
	// ObsShape is [C, H, W] of the (cropped) pixel observations the
	// networks see, or [D] for state vectors.
	ObsShape []int
	// ActionDim is |A|; actions lie in [−1, 1].
	ActionDim int
	// Hidden is the width of the actor's and the Q networks' two hidden
	// layers (1024).
	Hidden int
	// FeatureDim is the encoder's output (50); Layers and Filters its
	// convolutions (4 of 32).
	FeatureDim, Layers, Filters int
	// Discount is γ (0.99).
	Discount float64
	// InitTemperature is α at the start (0.1); AlphaLR and AlphaBeta its
	// Adam's learning rate and β1 (1e-4, 0.5).
	InitTemperature, AlphaLR, AlphaBeta float64
	// ActorLR, ActorBeta: the actor's Adam (1e-3, 0.9); LogStdMin and
	// LogStdMax bound its log-std (−10, 2); it is updated every
	// ActorEvery updates (2).
	ActorLR, ActorBeta, LogStdMin, LogStdMax float64
	ActorEvery                               int
	// CriticLR, CriticBeta: the critic's Adam (1e-3, 0.9).
	CriticLR, CriticBeta float64
	// CriticTau and EncoderTau are the EMA rates of the target critic's Q
	// networks and encoder (0.01, 0.05), applied every TargetEvery
	// updates (2).
	CriticTau, EncoderTau float64
	TargetEvery           int
	// ConvPrecision is the encoder convolutions' arithmetic: Float32 (""
	// too; the paper's) or BFloat16, which keeps float32 weights and
	// gradients but convolves bfloat16 activations (AMX/AVX-512 BF16
	// where the CPU has them; about 2.5× faster convolutions here, not
	// the paper's setting).
	ConvPrecision string
	// Seed fixes the initial weights and the policy's noise.
	Seed uint64
}

// The conv precisions Config.ConvPrecision takes.
const (
	Float32  = "float32"
	BFloat16 = "bfloat16"
)

// Default returns CURL's configuration for observations of obsShape and
// actions of size actionDim.
func Default(obsShape []int, actionDim int) Config {
	return Config{
		ObsShape: obsShape, ActionDim: actionDim,
		Hidden: 1024, FeatureDim: 50, Layers: 4, Filters: 32,
		Discount:        0.99,
		InitTemperature: 0.1, AlphaLR: 1e-4, AlphaBeta: 0.5,
		ActorLR: 1e-3, ActorBeta: 0.9, LogStdMin: -10, LogStdMax: 2, ActorEvery: 2,
		CriticLR: 1e-3, CriticBeta: 0.9,
		CriticTau: 0.01, EncoderTau: 0.05, TargetEvery: 2,
	}
}

func (c *Config) pixels() bool { return len(c.ObsShape) == 3 }

// convOut is the side of the last convolution's map: one stride-2 3×3
// convolution, then Layers−1 of stride 1 (84 → 41 → 35 with 4 layers).
func (c *Config) convOut() int64 {
	s := (c.ObsShape[1]-3)/2 + 1
	return int64(s - 2*(c.Layers-1))
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case len(c.ObsShape) != 1 && len(c.ObsShape) != 3:
		return fmt.Errorf("sac: observations of shape %v: want [C, H, W] pixels or [D] states", c.ObsShape)
	case c.pixels() && c.ObsShape[1] != c.ObsShape[2]:
		return fmt.Errorf("sac: pixel observations of %d×%d: want square ones (crop them)", c.ObsShape[1], c.ObsShape[2])
	case c.ActionDim < 1 || c.Hidden < 1:
		return fmt.Errorf("sac: action size %d, hidden %d: want ≥ 1", c.ActionDim, c.Hidden)
	case c.pixels() && (c.Layers < 1 || c.Filters < 1 || c.FeatureDim < 1 || c.convOut() < 1):
		return fmt.Errorf("sac: %d conv layers of %d filters on %d pixels to %d features: the layers must leave a map of at least 1×1", c.Layers, c.Filters, c.ObsShape[1], c.FeatureDim)
	case c.ActorEvery < 1 || c.TargetEvery < 1:
		return errors.New("sac: actor and target update periods must be ≥ 1")
	case c.ConvPrecision != "" && c.ConvPrecision != Float32 && c.ConvPrecision != BFloat16:
		return fmt.Errorf("sac: conv precision %q: want %s or %s", c.ConvPrecision, Float32, BFloat16)
	case c.InitTemperature <= 0 || c.LogStdMin >= c.LogStdMax:
		return fmt.Errorf("sac: init temperature %v, log-std bounds [%v, %v]: want a positive temperature and min < max", c.InitTemperature, c.LogStdMin, c.LogStdMax)
	}
	return nil
}
