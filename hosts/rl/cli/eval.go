package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/rl/runner"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func runEval(_ context.Context, a *app, args []string) error {
	fs := newFlags(a, "eval", "--run DIR [--episodes 10] [--gif FILE]")
	run := fs.String("run", "", "folder of a training run (selfsup-rl train --out DIR): its checkpoint's agent is evaluated")
	episodes := fs.Int("episodes", 10, "episodes of the deterministic policy (centre crop)")
	gif := fs.String("gif", "", "GIF of the first episode (default DIR/gifs/eval-final.gif; \"none\" for none)")
	seed := fs.Uint64("seed", 0, "seed of the evaluation episodes (0: the run's, as its evaluations)")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *run == "" {
		return usageError{Err: fmt.Errorf("--run is required: the folder of a training run")}
	}
	dev, err := tensor.ParseDevice(*device)
	if err != nil {
		return usageError{Err: err}
	}
	backend.ConfigureThreads(0)
	p, err := runner.LoadPolicy(*run, dev)
	if err != nil {
		return err
	}
	defer p.Close()
	if *seed != 0 {
		p.Config.Seed = *seed
	}
	switch *gif {
	case "":
		*gif = filepath.Join(*run, "gifs", "eval-final.gif")
	case "none":
		*gif = ""
	}
	ev, err := p.Evaluate(*episodes, *gif)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s after %d env steps: return %.1f ± %.1f over %d episodes\n", p.Config.Env, ev.EnvSteps, ev.Mean, ev.Std, len(ev.Returns))
	if *gif != "" {
		fmt.Fprintf(a.stdout, "first episode: %s\n", *gif)
	}
	return nil
}
