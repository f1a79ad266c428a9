// Package runner trains and evaluates the SAC agents of sdk/rl/sac on the
// environments of envs, with CURL's protocol (MishaLaskin/curl's
// train.py): random actions for the seed steps, then one update per agent
// step on a batch from the replay buffer, and deterministic evaluations
// with the centre crop every so many environment steps. The selfsup-rl
// command is a thin layer over it; a Go program can call it directly.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/progress"
	"github.com/selfsup/selfsup/sdk/rl/replay"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Eval is one evaluation: EvalEpisodes episodes of the deterministic
// policy.
type Eval struct {
	EnvSteps int64     `json:"env_steps"`
	Mean     float64   `json:"mean_return"`
	Std      float64   `json:"std_return"`
	Returns  []float64 `json:"returns"`
	Seconds  float64   `json:"seconds"`
}

// Runner is one training run. It is not safe for concurrent use.
type Runner struct {
	cfg      Config
	dev      gotch.Device
	log      zerolog.Logger
	agent    *sac.Agent
	buf      *replay.Buffer
	env      envs.Env
	rng      *rand.Rand // seed-step actions, replay draws and crops
	rngSrc   *rand.PCG
	stopAt   int64 // tests: Run returns after this many agent steps (0: never)
	step     int64 // agent steps taken
	episodes int64
	obs      envs.Obs
	done     bool
	epReturn float64
	last     float64 // return of the last finished training episode
	evals    []Eval
	out      *outputs
	timing   timing
	aux      *aux
	ctx      context.Context // of the Run under way
}

// timing sums the seconds spent per part of the loop.
type timing struct {
	act, env, sample, update float64
	acts, updates            int64 // policy actions (not the seed steps' random ones), updates
}

// Options are what a run works with besides its Config.
type Options struct {
	// Device holds the agent.
	Device gotch.Device
	// Out is the folder for the run's files (empty: none).
	Out string
	// Log receives the evaluations.
	Log zerolog.Logger
	// Aux, when set, is an auxiliary objective on the critic's encoder
	// (CURL: the curl method; any method with two views of pooled
	// features), stepped after every SAC update; the run owns it and
	// closes it. AuxConfig overrides its defaults.
	Aux       method.Method
	AuxConfig method.Params
	// EncoderLR is the learning rate of the encoder's auxiliary Adam (0:
	// DefaultEncoderLR).
	EncoderLR float64
}

// New sets up a run: the environment, the agent, the replay buffer, the
// auxiliary objective and (when o.Out is set) the output folder.
func New(ctx context.Context, cfg Config, o Options) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		if o.Aux != nil {
			o.Aux.Close()
		}
		return nil, err
	}
	if o.Aux != nil && !cfg.Pixels {
		o.Aux.Close()
		return nil, errors.New("rl: an auxiliary objective trains the pixel encoder: train on pixels or drop the method")
	}
	dev, out, log := o.Device, o.Out, o.Log
	env, err := cfg.makeEnv()
	if err != nil {
		if o.Aux != nil {
			o.Aux.Close()
		}
		return nil, err
	}
	src := rand.NewPCG(cfg.Seed, 0x2e91a7)
	r := &Runner{cfg: cfg, dev: dev, log: log, env: env, done: true, rng: rand.New(src), rngSrc: src}
	shape := []int{3 * cfg.Stack, cfg.ImageSize, cfg.ImageSize}
	if !cfg.Pixels {
		shape = []int{env.ObservationSpace().State.Size()}
	}
	ac := sac.Default(shape, env.ActionSpace().Size())
	ac.Seed = cfg.Seed
	if cfg.Agent != nil {
		cfg.Agent(&ac)
	}
	if r.agent, err = sac.New(ac, dev); err != nil {
		env.Close()
		if o.Aux != nil {
			o.Aux.Close()
		}
		return nil, err
	}
	if o.Aux != nil {
		lr := o.EncoderLR
		if lr == 0 {
			lr = DefaultEncoderLR
		}
		err := r.agent.EnableEncoderSteps(lr)
		if err == nil {
			r.aux, err = newAux(ctx, o.Aux, o.AuxConfig, r.agent, r.totalSteps()-cfg.SeedSteps, tensor.DeviceName(dev), int64(cfg.Seed))
		}
		if err != nil {
			o.Aux.Close()
			r.Close()
			return nil, err
		}
	}
	rc := replay.Config{Capacity: cfg.Capacity, Stack: 1, ActionDim: ac.ActionDim}
	if cfg.Pixels {
		f := cfg.frameSize()
		rc.Stack, rc.Channels, rc.Height, rc.Width = cfg.Stack, 3, f, f
	} else {
		rc.StateDim = shape[0]
	}
	if r.buf, err = replay.New(rc); err != nil {
		r.Close()
		return nil, err
	}
	if out != "" {
		if r.out, err = newOutputs(out); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close frees the agent and the environment.
func (r *Runner) Close() {
	if r.agent != nil {
		r.agent.Close()
	}
	if r.env != nil {
		r.env.Close()
	}
	if r.aux != nil {
		if err := r.aux.close(); err != nil {
			r.log.Warn().Err(err).Msg("closing the auxiliary method")
		}
	}
	if r.out != nil {
		r.out.close()
	}
}

// Agent is the run's agent.
func (r *Runner) Agent() *sac.Agent { return r.agent }

// Evals are the evaluations so far.
func (r *Runner) Evals() []Eval { return r.evals }

// EnvSteps is the number of environment steps taken.
func (r *Runner) EnvSteps() int64 { return r.step * int64(r.cfg.repeat()) }

// totalSteps is the run's length in agent steps.
func (r *Runner) totalSteps() int64 {
	k := int64(r.cfg.repeat())
	return (r.cfg.EnvSteps + k - 1) / k
}

// Run trains until EnvSteps, evaluating every EvalEvery environment steps
// (at the start too, as train.py does) and at the end, and shows progress
// on w (nil: none). Cancelling ctx stops it between steps.
func (r *Runner) Run(ctx context.Context, w io.Writer) error {
	r.ctx = ctx
	total := r.totalSteps()
	k := int64(r.cfg.repeat())
	every := r.cfg.EvalEvery / k
	var bar *progress.Bar
	if w != nil {
		bar = progress.New(w, int(total*k), progress.Options{Label: r.cfg.Env, Unit: "env step", Start: int(r.step * k)})
	}
	ckpt := r.cfg.CheckpointEvery / k
	next := r.step + ckpt
	for r.step < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.stopAt > 0 && r.step >= r.stopAt {
			return nil
		}
		if every > 0 && r.step%every == 0 && r.evaluated() < r.EnvSteps() {
			if err := r.evaluate(); err != nil {
				return err
			}
		}
		if r.out != nil && ckpt > 0 && r.done && r.step >= next {
			if err := r.checkpoint(ctx); err != nil {
				return err
			}
			next = r.step + ckpt
		}
		st, err := r.train()
		if err != nil {
			return err
		}
		if bar != nil {
			ms := []progress.Metric{progress.M("return", r.last)}
			if st != nil {
				ms = append(ms, progress.M("critic", st.CriticLoss), progress.M("alpha", r.agent.Alpha()))
			}
			if n := len(r.evals); n > 0 {
				ms = append(ms, progress.M("eval", r.evals[n-1].Mean))
			}
			bar.Set(int(r.step*k), ms...)
		}
	}
	if r.evaluated() < r.EnvSteps() {
		if err := r.evaluate(); err != nil {
			return err
		}
	}
	if r.out != nil && r.cfg.CheckpointEvery > 0 {
		if !r.done {
			r.log.Warn().Int64("env_steps", r.EnvSteps()).Msg("the run ended inside an episode: its last checkpoint is the one before (checkpoints are taken between episodes)")
		} else if err := r.checkpoint(ctx); err != nil {
			return err
		}
	}
	if bar != nil {
		bar.Finish(progress.M("eval", r.evals[len(r.evals)-1].Mean))
	}
	t := r.timing
	per := func(x float64, n int64) float64 {
		if n == 0 {
			return 0
		}
		return x / float64(n)
	}
	r.log.Info().Int64("agent_steps", r.step).Int64("updates", t.updates).
		Float64("update_s", per(t.update, t.updates)).Float64("sample_s", per(t.sample, t.updates)).
		Float64("act_s", per(t.act, t.acts)).Float64("env_step_s", per(t.env, r.step)).Msg("time per step")
	return nil
}

// evaluated is the env steps of the last evaluation (−1: none).
func (r *Runner) evaluated() int64 {
	if len(r.evals) == 0 {
		return -1
	}
	return r.evals[len(r.evals)-1].EnvSteps
}

// train takes one agent step: act (randomly during the seed steps), update
// once from the seed steps on (before stepping the environment, as
// train.py), step, store. It returns the update's stats (nil before
// updates start).
func (r *Runner) train() (*sac.Stats, error) {
	if r.done {
		seed := int64(r.cfg.Seed)<<20 + r.episodes
		r.obs, _ = r.env.Reset(&seed)
		r.episodes++
		r.done, r.epReturn = false, 0
		if err := r.buf.Start(r.cfg.newestFrame(r.obs), r.cfg.state(r.obs)); err != nil {
			return nil, err
		}
	}
	var action []float64
	if r.step < r.cfg.SeedSteps {
		sp := r.env.ActionSpace()
		action = make([]float64, sp.Size())
		for i := range action {
			action[i] = sp.Low[i] + (sp.High[i]-sp.Low[i])*r.rng.Float64()
		}
	} else {
		t0 := time.Now()
		x, err := r.cfg.obsTensor(r.obs, r.dev)
		if err != nil {
			return nil, err
		}
		action, err = r.agent.Act(x, false)
		x.MustDrop()
		if err != nil {
			return nil, err
		}
		r.timing.act += time.Since(t0).Seconds()
		r.timing.acts++
	}
	var st *sac.Stats
	if r.step >= r.cfg.SeedSteps {
		s, err := r.update()
		if err != nil {
			return nil, err
		}
		st = &s
	}
	t0 := time.Now()
	next, reward, term, trunc, _ := r.env.Step(action)
	r.timing.env += time.Since(t0).Seconds()
	r.epReturn += reward
	if err := r.buf.Add(action, reward, term, r.cfg.newestFrame(next), r.cfg.state(next)); err != nil {
		return nil, err
	}
	r.obs = next
	r.step++
	if term || trunc {
		r.done, r.last = true, r.epReturn
		if r.out != nil {
			if err := r.out.episode(r.EnvSteps(), r.episodes, r.epReturn); err != nil {
				return nil, err
			}
		}
	}
	if st != nil && r.out != nil && r.timing.updates%100 == 0 {
		if err := r.out.update(r.EnvSteps(), st, r.timing); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// update samples a batch and updates the agent on it.
func (r *Runner) update() (sac.Stats, error) {
	t0 := time.Now()
	b, err := r.buf.Sample(r.rng, r.cfg.Batch, replay.Options{Crop: r.cfg.crop(), Positives: r.aux != nil})
	if err != nil {
		return sac.Stats{}, err
	}
	s := tensor.NewScope()
	defer s.Close()
	batch, err := r.tensors(s, b)
	if err != nil {
		return sac.Stats{}, err
	}
	t1 := time.Now()
	r.timing.sample += t1.Sub(t0).Seconds()
	st, err := r.agent.Update(batch, r.step)
	if err == nil && r.aux != nil {
		var resp method.StepResponse
		if resp, err = r.aux.step(r.ctx, r.agent, batch.Obs, batch.Pos); err == nil {
			st.AuxLoss = resp.Loss
		}
	}
	r.timing.update += time.Since(t1).Seconds()
	r.timing.updates++
	return st, err
}

// tensors moves a sampled batch to the agent's device as floats.
func (r *Runner) tensors(s *tensor.Scope, b *replay.Batch) (*sac.Batch, error) {
	n := int64(b.N)
	obs := func(px []uint8, st []float32) (*ts.Tensor, error) {
		var x *ts.Tensor
		var err error
		if r.cfg.Pixels {
			x, err = tensor.FromUint8(px, n, int64(b.Channels), int64(b.Height), int64(b.Width))
			if err == nil {
				x = x.MustTotype(gotch.Float, true)
			}
		} else {
			x, err = tensor.FromFloat32(st, n, int64(len(st))/n)
		}
		if err != nil {
			return nil, err
		}
		if r.dev != gotch.CPU {
			x = x.MustTo(r.dev, true)
		}
		return s.T(x), nil
	}
	vec := func(v []float32, d int64) (*ts.Tensor, error) {
		x, err := tensor.FromFloat32(v, n, d)
		if err != nil {
			return nil, err
		}
		if r.dev != gotch.CPU {
			x = x.MustTo(r.dev, true)
		}
		return s.T(x), nil
	}
	var bt sac.Batch
	var err error
	if bt.Obs, err = obs(b.Obs, b.State); err != nil {
		return nil, err
	}
	if bt.Next, err = obs(b.Next, b.NextState); err != nil {
		return nil, err
	}
	if b.Pos != nil {
		if bt.Pos, err = obs(b.Pos, nil); err != nil {
			return nil, err
		}
	}
	if bt.Action, err = vec(b.Action, int64(len(b.Action))/n); err != nil {
		return nil, err
	}
	if bt.Reward, err = vec(b.Reward, 1); err != nil {
		return nil, err
	}
	if bt.NotDone, err = vec(b.NotDone, 1); err != nil {
		return nil, err
	}
	return &bt, nil
}

// evaluate runs the deterministic evaluation of the agent as it is and
// records it (and, with an output folder, a GIF of its first episode).
func (r *Runner) evaluate() error {
	gif := ""
	if r.out != nil {
		gif = filepath.Join(r.out.dir, "gifs", fmt.Sprintf("eval-%08d.gif", r.EnvSteps()))
	}
	ev, err := Evaluate(r.cfg, r.agent, r.dev, r.cfg.EvalEpisodes, gif)
	if err != nil {
		return err
	}
	ev.EnvSteps = r.EnvSteps()
	r.evals = append(r.evals, ev)
	r.log.Info().Int64("env_steps", ev.EnvSteps).Float64("mean_return", ev.Mean).Float64("std", ev.Std).Float64("seconds", ev.Seconds).Msg("evaluation")
	if r.out != nil {
		return r.out.eval(r.cfg, r.evals)
	}
	return nil
}

// MeanStd is the mean and population standard deviation of v (NaN for
// none), as evaluations and benchmark tables report returns.
func MeanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / float64(len(v)))
}

// String describes the run in one line.
func (c Config) String() string {
	obs := "state"
	if c.Pixels {
		obs = fmt.Sprintf("pixels %d→%d ×%d (%s)", c.frameSize(), c.ImageSize, c.Stack, c.Aug)
	}
	return fmt.Sprintf("%s, %s, action repeat %d, %d env steps, batch %d", c.Env, obs, c.repeat(), c.EnvSteps, c.Batch)
}
