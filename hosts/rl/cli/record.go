package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/render"
	"github.com/selfsup/selfsup/envs/wrap"
)

func runRecord(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "record", "--env NAME|all [--style flat|textured|all] --out FILE.gif [flags]")
	var f envFlags
	f.register(fs)
	out := fs.String("out", "", "GIF to write; with --env all or --style all, a folder (one NAME_STYLE.gif each)")
	size := fs.Int("size", 100, "frame size in pixels (square)")
	steps := fs.Int("steps", 200, "steps to record (0: the whole episode)")
	episodes := fs.Int("episodes", 1, "episodes to record; more than one adds _epN to the file names")
	repeat := fs.Int("action-repeat", 1, "apply each action this many times (frames are kept at every wrapped step)")
	skip := fs.Int("frame-skip", 0, "keep one frame every this many steps (0: the fewest that play at <= 50 fps)")
	policy := fs.String("policy", "random", "policy that acts: "+policyNames)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{Err: fmt.Errorf("--out is required: give a .gif file (or a folder with --env all)")}
	}
	if *episodes < 1 || *steps < 0 || *size < 1 {
		return usageError{Err: fmt.Errorf("--episodes must be >= 1, --steps >= 0 and --size >= 1")}
	}
	ids := []string{f.env}
	if f.env == "all" {
		ids = envs.List()
	}
	styles := []string{f.style}
	if f.style == "all" {
		styles = nil
		for _, s := range render.Styles() {
			styles = append(styles, s.String())
		}
	}
	many := len(ids) > 1 || len(styles) > 1
	for _, id := range ids {
		for _, st := range styles {
			if err := ctx.Err(); err != nil {
				return err
			}
			path := *out
			if many {
				path = filepath.Join(*out, fmt.Sprintf("%s_%s.gif", id, st))
			}
			if *episodes > 1 {
				path = strings.TrimSuffix(path, ".gif") + "_ep%d.gif"
			}
			ef := f
			ef.env, ef.style = id, st
			written, err := recordOne(ctx, fs, &ef, path, *size, *steps, *episodes, *repeat, *skip, *policy)
			if err != nil {
				return err
			}
			for _, p := range written {
				a.log.Info().Str("env", id).Str("style", st).Str("file", p).Msg("recorded")
			}
		}
	}
	return nil
}

// recordOne records episodes of one environment in one style.
func recordOne(ctx context.Context, fs *flag.FlagSet, f *envFlags, path string, size, steps, episodes, repeat, skip int, policy string) ([]string, error) {
	var opts []envs.Option
	if steps > 0 {
		opts = append(opts, envs.WithMaxEpisodeSteps(steps*max(repeat, 1)))
	}
	e, err := f.make(fs, opts...)
	if err != nil {
		return nil, err
	}
	var env envs.Env = e
	if repeat > 1 {
		env = wrap.ActionRepeat(env, repeat)
	}
	rec, err := wrap.RecordGIF(env, wrap.GIFOptions{Path: path, Width: size, Height: size, FrameSkip: skip})
	if err != nil {
		return nil, err
	}
	// Recordings are reproducible: without --seed they use seed 0.
	seed := f.seed
	act, err := newPolicy(policy, env, seed)
	if err != nil {
		return nil, err
	}
	for ep := range episodes {
		var sp *int64
		if ep == 0 {
			sp = &seed
		}
		obs, _ := rec.Reset(sp)
		for {
			if err := ctx.Err(); err != nil {
				_ = rec.Close()
				return rec.Paths(), fmt.Errorf("recording %s stopped: %w", path, err)
			}
			var term, trunc bool
			obs, _, term, trunc, _ = rec.Step(act(obs))
			if term || trunc {
				break
			}
		}
	}
	if err := rec.Close(); err != nil {
		return rec.Paths(), fmt.Errorf("record %s: %w", path, err)
	}
	return rec.Paths(), nil
}
