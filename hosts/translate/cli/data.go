package cli

import (
	"context"
	"errors"

	"github.com/selfsup/selfsup/sdk/progress"
	"github.com/selfsup/selfsup/translate"
)

func runData(ctx context.Context, a *app, args []string) error {
	fs := newFlags("data", "--out DIR [--env E] [--size 64] [--train 1000] [--test 100]", a)
	d := translate.DefaultPaired()
	out := fs.String("out", "", "folder to write trainA, trainB, testA, testB into (required)")
	fs.StringVar(&d.Env, "env", d.Env, "environment whose states are drawn (selfsup-rl envs lists them)")
	fs.IntVar(&d.Size, "size", d.Size, "side of the images in pixels")
	fs.IntVar(&d.Train, "train", d.Train, "training states")
	fs.IntVar(&d.Test, "test", d.Test, "test states")
	fs.IntVar(&d.Every, "every", d.Every, "environment steps of random actions between two kept states")
	fs.IntVar(&d.Episode, "episode", d.Episode, "steps before the environment is reset")
	seed := fs.Uint64("seed", d.Seed, "seed of the states")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{Err: errors.New("--out is required")}
	}
	d.Seed = *seed
	bar := progress.New(a.stderr, d.Train+d.Test, progress.Options{Label: "data", Unit: "pair"})
	if err := translate.WritePaired(ctx, *out, d, func(done, _ int) { bar.Set(done) }); err != nil {
		return err
	}
	bar.Finish()
	a.log.Info().Str("out", *out).Int("train", d.Train).Int("test", d.Test).Msg("paired set written: domain A flat, B textured, the same names for the same state")
	return nil
}
