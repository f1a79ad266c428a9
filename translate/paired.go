package translate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/envs/render"
)

// PairedOptions set a rendered paired-truth set: domain A is an
// environment drawn in the flat style, domain B the same states drawn
// textured.
type PairedOptions struct {
	// Env is the environment (envs.List), Size the side of the images.
	Env  string
	Size int
	// Train and Test are the number of states in each split.
	Train, Test int
	// Every is the environment steps (random actions) between two kept
	// states; Episode the steps before a reset.
	Every, Episode int
	// Seed fixes the states.
	Seed uint64
}

// DefaultPaired is 1,000 training and 100 test states of cartpole-swingup
// at 64×64, a state every 4 steps of random actions, episodes of 200.
func DefaultPaired() PairedOptions {
	return PairedOptions{Env: "cartpole-swingup", Size: 64, Train: 1000, Test: 100, Every: 4, Episode: 200, Seed: 1}
}

// WritePaired writes the set into dir in the official layout: trainA,
// trainB, testA, testB, with the two drawings of one state under the same
// name (00000.png, …), so the official code trains on the same images
// (its UnalignedDataset pairs A and B at random) and evaluation can match
// G(A) with the true B. progress, when set, is called after each state.
func WritePaired(ctx context.Context, dir string, o PairedOptions, progress func(done, total int)) error {
	if o.Size < 8 || o.Train < 1 || o.Test < 0 || o.Every < 1 || o.Episode < o.Every {
		return fmt.Errorf("translate: paired set %+v: want size ≥ 8, ≥ 1 training state, every ≥ 1, episodes ≥ every", o)
	}
	mk := func(style render.Style) (envs.Env, error) {
		return envs.Make(o.Env, envs.WithPixels(o.Size, o.Size), envs.WithState(true), envs.WithStyle(style), envs.WithRenderSize(o.Size, o.Size))
	}
	flat, err := mk(render.Flat)
	if err != nil {
		return fmt.Errorf("translate: %w", err)
	}
	defer flat.Close()
	tex, err := mk(render.Textured)
	if err != nil {
		return err
	}
	defer tex.Close()
	for _, d := range []string{"trainA", "trainB", "testA", "testB"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xda7a))
	act := make([]float64, flat.ActionSpace().Size())
	steps, seed := 0, int64(o.Seed)
	reset := func() {
		s := seed
		flat.Reset(&s)
		tex.Reset(&s) // same seed, same initial state
		seed++
		steps = 0
	}
	reset()
	total := o.Train + o.Test
	for i := range total {
		if err := ctx.Err(); err != nil {
			return err
		}
		for range o.Every {
			if steps >= o.Episode {
				reset()
			}
			for j := range act {
				act[j] = 2*rng.Float64() - 1
			}
			a, _, _, _, _ := flat.Step(act) // same actions, same physics: same states
			b, _, _, _, _ := tex.Step(act)
			if !slices.Equal(a.State, b.State) {
				return fmt.Errorf("translate: the flat and textured %s diverged (states %v and %v): the pairs would not be true", o.Env, a.State, b.State)
			}
			steps++
		}
		split, n := "train", i
		if i >= o.Train {
			split, n = "test", i-o.Train
		}
		name := fmt.Sprintf("%05d.png", n)
		if err := savePNGFile(filepath.Join(dir, split+"A", name), flat.Render()); err != nil {
			return err
		}
		if err := savePNGFile(filepath.Join(dir, split+"B", name), tex.Render()); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, total)
		}
	}
	return nil
}
