package runner

import (
	"fmt"
	"strings"

	"github.com/selfsup/selfsup/envs/render"
	"github.com/selfsup/selfsup/sdk/rl/replay"
	"github.com/selfsup/selfsup/sdk/rl/sac"
)

// Config is one training run. Steps are counted as environment steps
// (agent steps × action repeat), as the CURL paper and its tables count
// them; EnvSteps 100,000 at action repeat 8 is 12,500 agent steps.
type Config struct {
	// Env is the task ("cartpole-swingup", see envs.List).
	Env string
	// Pixels trains on pixels (render RenderSize, crop to ImageSize,
	// Stack frames); otherwise on the environment's state vector.
	Pixels bool
	// Aug cuts training observations: Random to ImageSize (CURL, pixel
	// SAC), Shift (RAD/DrQ, rendered at ImageSize, pad 4). Acting and
	// evaluation use the centre crop.
	Aug replay.CropMode
	// RenderSize, ImageSize and Stack: CURL's 100, 84 and 3.
	RenderSize, ImageSize, Stack int
	// Style of the rendered frames (the textured one by default).
	Style render.Style
	// ActionRepeat (0: CURL's per domain: 8 cartpole, 4 reacher and
	// ball-in-cup, 2 else).
	ActionRepeat int
	// EnvSteps is the length of the run in environment steps.
	EnvSteps int64
	// SeedSteps are agent steps of uniformly random actions before the
	// first update (1,000).
	SeedSteps int64
	// Batch and Capacity: updates' batch (128) and replay capacity in
	// transitions (100,000).
	Batch, Capacity int
	// EvalEvery (environment steps; 0: never but at the end) and
	// EvalEpisodes (10) set the deterministic evaluations.
	EvalEvery    int64
	EvalEpisodes int
	// CheckpointEvery (environment steps; 0: none) sets how often the
	// run writes its checkpoint (at the next episode boundary) into its
	// folder; it also writes one at the end.
	CheckpointEvery int64
	// Seed fixes the environment, the agent, the replay sampling and the
	// crops.
	Seed uint64
	// Agent adjusts the SAC configuration after its defaults are set (nil:
	// CURL's).
	Agent func(*sac.Config) `json:"-"`
}

// Default is CURL's protocol for env with pixels.
func Default(env string) Config {
	return Config{
		Env: env, Pixels: true, Aug: replay.Random,
		RenderSize: 100, ImageSize: 84, Stack: 3, Style: render.Textured,
		EnvSteps: 100_000, SeedSteps: 1000, Batch: 128, Capacity: 100_000,
		EvalEvery: 10_000, EvalEpisodes: 10, CheckpointEvery: 10_000, Seed: 1,
	}
}

// repeat is the action repeat the run uses.
func (c *Config) repeat() int {
	if c.ActionRepeat > 0 {
		return c.ActionRepeat
	}
	switch {
	case strings.HasPrefix(c.Env, "cartpole"):
		return 8
	case strings.HasPrefix(c.Env, "reacher"), strings.HasPrefix(c.Env, "ball-in-cup"):
		return 4
	}
	return 2
}

// frameSize is the side of the rendered frames: Random crops RenderSize
// down to ImageSize; Shift and no crop render at ImageSize.
func (c *Config) frameSize() int {
	if c.Aug == replay.Random {
		return c.RenderSize
	}
	return c.ImageSize
}

// crop is the training crop.
func (c *Config) crop() replay.Crop {
	switch c.Aug {
	case replay.Random:
		return replay.Crop{Mode: replay.Random, Size: c.ImageSize}
	case replay.Shift:
		return replay.Crop{Mode: replay.Shift, Pad: 4}
	}
	return replay.Crop{Mode: replay.Whole}
}

// Validate checks the run.
func (c *Config) Validate() error {
	switch {
	case c.EnvSteps < 1 || c.Batch < 1 || c.Capacity < 1 || c.EvalEpisodes < 0 || c.SeedSteps < 0:
		return fmt.Errorf("rl: env steps %d, batch %d, capacity %d, eval episodes %d, seed steps %d: want positive sizes", c.EnvSteps, c.Batch, c.Capacity, c.EvalEpisodes, c.SeedSteps)
	case c.Pixels && (c.ImageSize < 1 || c.Stack < 1):
		return fmt.Errorf("rl: image size %d, stack %d: want ≥ 1", c.ImageSize, c.Stack)
	case c.Pixels && c.Aug == replay.Random && c.RenderSize < c.ImageSize:
		return fmt.Errorf("rl: random crops of %d from %d-pixel frames: render at least the crop's size", c.ImageSize, c.RenderSize)
	case c.Pixels && c.Aug == replay.Center:
		return fmt.Errorf("rl: the centre crop is for acting; train with crop, shift or none")
	}
	return nil
}
