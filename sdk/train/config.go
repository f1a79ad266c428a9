// Package train is selfsup's pre-training loop, driven only by a method's
// Spec: views from the augmenter, the trunk (and its EMA target) on them,
// the method's step on the features, back-propagation of the method's
// feature gradients into the trunk, the trunk's optimizer and schedule,
// metrics, plots and checkpoints that resume exactly.
package train

import (
	"fmt"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/optim"
)

// Config is one pre-training run. It is the "train" part of a recipe file;
// zero values take the defaults noted.
type Config struct {
	// Encoder is the trunk architecture (see encoder.Names).
	Encoder string `json:"encoder" yaml:"encoder"`
	// BatchSize is images per step (default 256).
	BatchSize int `json:"batch_size" yaml:"batch_size"`
	// Epochs of the training set; Steps, when set, overrides it.
	Epochs float64 `json:"epochs" yaml:"epochs"`
	Steps  int64   `json:"steps,omitempty" yaml:"steps,omitempty"`
	// Optimizer of the trunk (default Adam lr 1e-3, wd 1e-6).
	Optimizer optim.Config `json:"optimizer" yaml:"optimizer"`
	// WarmupEpochs of linear learning-rate warm-up; Cosine decays after it.
	WarmupEpochs float64 `json:"warmup_epochs,omitempty" yaml:"warmup_epochs,omitempty"`
	Cosine       bool    `json:"cosine,omitempty" yaml:"cosine,omitempty"`
	// MinLR is the learning rate the cosine ends at (main_dino.py's
	// min_lr); 0: it decays to 0.
	MinLR float64 `json:"min_lr,omitempty" yaml:"min_lr,omitempty"`
	// WeightDecayEnd, when set, moves the trunk's weight decay from
	// optimizer.weight_decay to this value along a per-step cosine over the
	// run (main_dino.py's weight_decay_end with utils.cosine_scheduler;
	// biases and normalisation weights stay undecayed); 0: constant decay.
	WeightDecayEnd float64 `json:"weight_decay_end,omitempty" yaml:"weight_decay_end,omitempty"`
	// ClipGrad, when set, scales each trunk parameter's gradient on its own
	// to at most this L2 norm before the optimizer step (main_dino.py's
	// clip_grad, utils.clip_gradients); the step's largest norm before
	// clipping is the metric trunk_grad_norm_max. 0: no clipping.
	ClipGrad float64 `json:"clip_grad,omitempty" yaml:"clip_grad,omitempty"`
	// Init starts the trunk (and so the EMA target, a copy of it) from the
	// trunk weights of a pre-training checkpoint, or of a run folder's
	// checkpoint.safetensors; empty: a fresh seeded trunk. It must hold
	// the same encoder for images of as many channels. Only the trunk is
	// taken, not its optimizer, method state or step; --resume loads the
	// run's own checkpoint over it.
	Init string `json:"init,omitempty" yaml:"init,omitempty"`
	// Method overrides the method's default hyper-parameters.
	Method method.Params `json:"method,omitempty" yaml:"method,omitempty"`
	// Seed makes the run reproducible: same seed, same CPU result.
	Seed uint64 `json:"seed" yaml:"seed"`
	// Device is cpu, cuda, cuda:N or auto.
	Device string `json:"device,omitempty" yaml:"device,omitempty"`
	// Out is the run folder: metrics.jsonl, loss.png, checkpoints.
	Out string `json:"out" yaml:"out"`
	// CheckpointEvery writes a checkpoint every so many steps (0: at the
	// end of each epoch and of the run).
	CheckpointEvery int64 `json:"checkpoint_every,omitempty" yaml:"checkpoint_every,omitempty"`
	// LogEvery writes a metrics line every so many steps (default 1).
	LogEvery int64 `json:"log_every,omitempty" yaml:"log_every,omitempty"`
	// SnapshotEvery keeps an in-memory snapshot of the run every so many
	// steps (default 100) when the method runs in a plugin process: if the
	// process dies, the run restarts it, restores the snapshot and replays
	// the steps since, ending bit-identical to an uninterrupted run.
	SnapshotEvery int64 `json:"snapshot_every,omitempty" yaml:"snapshot_every,omitempty"`
	// MaxRestarts bounds those recoveries over the run (default 3; -1:
	// none, a death stops the run).
	MaxRestarts int `json:"max_restarts,omitempty" yaml:"max_restarts,omitempty"`
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.Encoder == "" {
		c.Encoder = "convnet-s"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.Epochs == 0 && c.Steps == 0 {
		c.Epochs = 1
	}
	if c.Optimizer.Name == "" {
		c.Optimizer.Name = "adam"
	}
	if c.Optimizer.LR == 0 {
		c.Optimizer.LR = 1e-3
		if c.Optimizer.Name == "adam" && c.Optimizer.WeightDecay == 0 {
			c.Optimizer.WeightDecay = 1e-6
		}
	}
	if c.Device == "" {
		c.Device = "cpu"
	}
	if c.LogEvery == 0 {
		c.LogEvery = 1
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 2:
		return fmt.Errorf("batch size %d: contrastive methods need at least 2 images per step", c.BatchSize)
	case c.Epochs < 0 || c.Steps < 0:
		return fmt.Errorf("negative training length (epochs %v, steps %d)", c.Epochs, c.Steps)
	case c.Out == "":
		return fmt.Errorf("no run folder: set out (--out DIR)")
	case c.MinLR < 0 || c.MinLR > c.Optimizer.LR:
		return fmt.Errorf("min_lr %v: want 0 up to the learning rate %v", c.MinLR, c.Optimizer.LR)
	case c.SnapshotEvery < 0 || c.MaxRestarts < -1:
		return fmt.Errorf("snapshot_every %d, max_restarts %d: want snapshot_every >= 0 and max_restarts >= -1", c.SnapshotEvery, c.MaxRestarts)
	case c.WeightDecayEnd < 0 || c.ClipGrad < 0:
		return fmt.Errorf("weight_decay_end %v, clip_grad %v: want 0 (off) or a positive value", c.WeightDecayEnd, c.ClipGrad)
	}
	return nil
}

// totalSteps is the run's length in steps for a data set of n images.
func (c Config) totalSteps(stepsPerEpoch int) int64 {
	if c.Steps > 0 {
		return c.Steps
	}
	return int64(c.Epochs*float64(stepsPerEpoch) + 0.5)
}
