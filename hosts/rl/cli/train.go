package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/selfsup/selfsup/envs/render"
	"github.com/selfsup/selfsup/plugins"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/rl/replay"
	"github.com/selfsup/selfsup/sdk/rl/runner"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// agents are the --agent presets: observations, augmentation and the
// auxiliary method.
var agentHelp = `curl (pixels, random crop 100→84, the curl method on the critic's encoder),
pixel-sac (pixels, random crop, no auxiliary objective),
rad (pixels rendered at 84, random shift by up to 4 pixels: RAD/DrQ),
state-sac (the environment's state vector: the upper reference)`

func runTrain(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "train", "[--env cartpole-swingup] [--agent curl] [flags]")
	env := fs.String("env", "cartpole-swingup", "environment (selfsup-rl envs lists them)")
	agent := fs.String("agent", "curl", "agent: "+agentHelp)
	meth := fs.String("method", "", "auxiliary objective on the pixel encoder: a method plugin whose Spec asks for two views of pooled features (curl, byol, simsiam, barlowtwins, moco, ...), fed two random crops of each observation; \"none\" for none (default: curl for --agent curl)")
	inProcess := fs.Bool("in-process", false, "run the method in this process instead of its plugin binary")
	var set method.ParamsFlag
	fs.Var(&set, "set", "method hyper-parameter KEY=VALUE (repeatable)")
	steps := fs.Int64("env-steps", 100_000, "length of the run in ENVIRONMENT steps (agent steps × action repeat, as the CURL paper counts them)")
	repeat := fs.Int("action-repeat", 0, "action repeat (0: CURL's, 8 cartpole, 4 reacher and ball-in-cup, 2 else)")
	seedSteps := fs.Int64("seed-steps", 1000, "agent steps of random actions before the first update")
	batch := fs.Int("batch", 128, "batch of each update (CURL's scripts: 128; its paper's table: 512)")
	capacity := fs.Int("capacity", 100_000, "replay capacity in transitions")
	evalEvery := fs.Int64("eval-every", 10_000, "environment steps between evaluations")
	evalEpisodes := fs.Int("eval-episodes", 10, "episodes per evaluation (deterministic policy, centre crop)")
	hidden := fs.Int("hidden", 1024, "width of the actor's and critic's hidden layers")
	precision := fs.String("conv-precision", sac.Float32, "arithmetic of the pixel encoder's convolutions: float32 (the paper's) or bfloat16 (float32 weights and gradients, bfloat16 activations; about 1.8x faster updates on CPUs with AMX or AVX-512 BF16)")
	style := fs.String("style", "textured", "rendering style: flat or textured")
	seed := fs.Uint64("seed", 1, "seed of the environment, the agent and the replay sampling")
	out := fs.String("out", "", "folder for eval.jsonl, eval.csv, curve.png, train.jsonl (default runs/rl/ENV-AGENT-sSEED)")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	ckpt := fs.Int64("checkpoint-every", 10_000, "environment steps between checkpoints (written at the next episode's start into OUT/checkpoint; 0: none)")
	resume := fs.Bool("resume", false, "continue the run in --out from its checkpoint (start it when there is none): the result equals an uninterrupted run")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := runner.Default(*env)
	aux := ""
	switch *agent {
	case "curl":
		aux = "curl"
	case "pixel-sac":
	case "rad":
		cfg.Aug = replay.Shift
	case "state-sac":
		cfg.Pixels = false
	default:
		return usageError{Err: fmt.Errorf("unknown agent %q: use %s", *agent, strings.ReplaceAll(agentHelp, "\n", "; "))}
	}
	if *meth != "" {
		aux = *meth
	}
	if aux == "none" {
		aux = ""
	}
	st, err := render.ParseStyle(*style)
	if err != nil {
		return usageError{Err: err}
	}
	dev, err := tensor.ParseDevice(*device)
	if err != nil {
		return usageError{Err: err}
	}
	cfg.Style, cfg.EnvSteps, cfg.ActionRepeat, cfg.SeedSteps = st, *steps, *repeat, *seedSteps
	cfg.Batch, cfg.Capacity, cfg.EvalEvery, cfg.EvalEpisodes, cfg.Seed = *batch, *capacity, *evalEvery, *evalEpisodes, *seed
	cfg.CheckpointEvery = *ckpt
	h, prec := *hidden, *precision
	if prec != sac.Float32 && prec != sac.BFloat16 {
		return usageError{Err: fmt.Errorf("--conv-precision %q: want %s or %s", prec, sac.Float32, sac.BFloat16)}
	}
	cfg.Agent = func(c *sac.Config) { c.Hidden, c.ConvPrecision = h, prec }
	if *out == "" {
		name := *agent
		if aux != "" && aux != "curl" {
			name += "-" + aux
		}
		*out = filepath.Join("runs", "rl", fmt.Sprintf("%s-%s-s%d", *env, name, *seed))
	}
	backend.ConfigureThreads(0)
	o := runner.Options{Device: dev, Out: *out, Log: a.log, AuxConfig: method.Params(set)}
	if aux != "" {
		if *inProcess {
			o.Aux, err = plugins.New(aux)
		} else {
			o.Aux, err = plugin.Open(ctx, aux, plugin.Options{Logger: &a.log})
		}
		if err != nil {
			return fmt.Errorf("open method %s: %w (build the plugins with `make build`, or pass --in-process)", aux, err)
		}
	}
	r, err := runner.New(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer r.Close()
	if *resume {
		if r.HasCheckpoint() {
			if err := r.Resume(ctx); err != nil {
				return err
			}
		} else {
			a.log.Info().Str("out", *out).Msg("no checkpoint to resume: starting the run")
		}
	}
	a.log.Info().Str("run", cfg.String()).Str("agent", *agent).Str("method", aux).Str("out", *out).Msg("training")
	if err := r.Run(ctx, a.stderr); err != nil {
		return err
	}
	ev := r.Evals()[len(r.Evals())-1]
	fmt.Fprintf(a.stdout, "%s %s: return %.1f ± %.1f at %d env steps; curve in %s\n", *env, *agent, ev.Mean, ev.Std, ev.EnvSteps, filepath.Join(*out, "curve.png"))
	return nil
}
