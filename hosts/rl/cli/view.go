package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/render"
	"github.com/selfsup/selfsup/envs/viewer"
	"github.com/selfsup/selfsup/sdk/rl/runner"
	"github.com/sugarme/gotch"
)

// envFlags are the flags that choose and configure an environment.
type envFlags struct {
	env, style string
	seed       int64
	seeded     bool
}

func (f *envFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.env, "env", "", "environment name (see `selfsup-rl envs`), such as cartpole-swingup")
	fs.StringVar(&f.style, "style", "flat", "visual style: flat or textured")
	fs.Int64Var(&f.seed, "seed", 0, "seed of the first episode (default: from the system)")
}

// make builds the environment the flags describe.
func (f *envFlags) make(fs *flag.FlagSet, opts ...envs.Option) (envs.Env, error) {
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "seed" {
			f.seeded = true
		}
	})
	if f.env == "" {
		return nil, usageError{Err: fmt.Errorf("--env is required: run `selfsup-rl envs` to list the environments")}
	}
	st, err := render.ParseStyle(f.style)
	if err != nil {
		return nil, usageError{Err: err}
	}
	e, err := envs.Make(f.env, append([]envs.Option{envs.WithStyle(st)}, opts...)...)
	if err != nil {
		return nil, usageError{Err: err}
	}
	return e, nil
}

func (f *envFlags) seedPtr() *int64 {
	if !f.seeded {
		return nil
	}
	s := f.seed
	return &s
}

type viewFlags struct {
	envFlags
	size     int
	speed    float64
	episodes int
	policy   string
	run      string
}

func (v *viewFlags) register(fs *flag.FlagSet, watch bool) {
	v.envFlags.register(fs)
	fs.IntVar(&v.size, "size", 480, "frame size in window pixels")
	fs.Float64Var(&v.speed, "speed", 1, "playback speed relative to real time")
	fs.IntVar(&v.episodes, "episodes", 0, "stop after this many episodes (0: until the window closes)")
	if watch {
		fs.StringVar(&v.policy, "policy", "random", "policy to watch: "+policyNames)
		fs.StringVar(&v.run, "run", "", "watch the trained agent of this run folder (selfsup-rl train --out DIR) on its own environment")
	}
}

func runPlay(ctx context.Context, a *app, args []string) error {
	return runViewer(ctx, a, args, false)
}

func runWatch(ctx context.Context, a *app, args []string) error {
	return runViewer(ctx, a, args, true)
}

func runViewer(ctx context.Context, a *app, args []string, watch bool) error {
	name := "play"
	if watch {
		name = "watch"
	}
	fs := newFlags(a, name, "--env NAME [flags]")
	var v viewFlags
	v.register(fs, watch)
	if err := parse(fs, args); err != nil {
		return err
	}
	var e envs.Env
	var trained *runner.Policy
	var err error
	if v.run != "" {
		if trained, err = runner.LoadPolicy(v.run, gotch.CPU); err != nil {
			return err
		}
		defer trained.Close()
		if e, err = trained.Env(); err != nil {
			return err
		}
	} else if e, err = v.make(fs); err != nil {
		return err
	}
	defer e.Close()
	opts := viewer.Options{
		Size: v.size, Speed: v.speed, Seed: v.seedPtr(), Episodes: v.episodes,
		OnEpisode: func(ep viewer.Episode) {
			a.log.Info().Str("env", e.Spec().ID).Int("episode", ep.Index).Int("steps", ep.Steps).
				Float64("return", ep.Return).Msg("episode")
		},
	}
	a.log.Info().Str("env", e.Spec().ID).Str("mode", name).Str("style", v.style).Msg("opening the viewer")
	start := time.Now()
	var runErr error
	err = viewer.Main(func() {
		if !watch {
			runErr = viewer.Play(ctx, e, opts)
			return
		}
		seed := v.seed
		if !v.seeded {
			seed = time.Now().UnixNano()
		}
		p, perr := newPolicy(v.policy, e, seed)
		if trained != nil {
			p, perr = func(o envs.Obs) []float64 {
				act, err := trained.Act(o)
				if err != nil {
					a.log.Error().Err(err).Msg("policy")
					return make([]float64, e.ActionSpace().Size())
				}
				return act
			}, nil
		}
		if perr != nil {
			runErr = perr
			return
		}
		runErr = viewer.Watch(ctx, e, viewer.Policy(p), opts)
	})
	if err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	a.log.Info().Dur("for", time.Since(start).Round(time.Second)).Msg("viewer closed")
	return nil
}
