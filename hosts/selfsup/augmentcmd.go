package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/plot"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func runAugment(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("augment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		show    = fs.Bool("show", false, "draw a PNG grid of augmented views")
		recipes = fs.String("recipe", "simclr", "comma-separated recipe names (built-in: "+strings.Join(augment.Recipes(), ", ")+") or YAML recipe files")
		dump    = fs.Bool("yaml", false, "print the recipes as YAML (to copy and edit)")
		dataSrc = fs.String("data", "fashion-mnist", "fashion-mnist or a folder of images")
		size    = fs.Int("size", 0, "image side for folder data (default 32)")
		images  = fs.Int("images", 8, "images (rows) to show")
		draws   = fs.Int("draws", 0, "augmentations per image (default: fill about 8 columns)")
		seed    = fs.Uint64("seed", 0, "seed of the random draws")
		out     = fs.String("out", "augment.png", "PNG file to write")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: selfsup augment --show [--recipe simclr,byol1] [flags]
       selfsup augment --yaml --recipe NAME

Shows what augmentation recipes do: one row per image, the original first,
then each draw's views. --yaml prints a recipe as YAML, ready to edit and
pass back with --recipe FILE.yaml (or in a pre-training recipe's augment:).

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if !*show && !*dump {
		fs.Usage()
		return 2
	}
	log := newLogger(stderr)
	backend.ConfigureThreads(0)
	_, full, _, err := loadData(ctx, dataConfig{Source: *dataSrc, Size: *size})
	if err != nil {
		log.Error().Err(err).Msg("augment")
		return 1
	}
	var views []augment.ViewRecipe
	for i, name := range strings.Split(*recipes, ",") {
		var r augment.Recipe
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			r, err = augment.LoadRecipe(name)
		} else {
			r, err = augment.Builtin(name, full.H, full.C)
		}
		if err != nil {
			log.Error().Err(err).Msg("augment")
			return 2
		}
		if *dump {
			y, err := r.YAML()
			if err != nil {
				log.Error().Err(err).Msg("augment")
				return 1
			}
			fmt.Fprintf(stdout, "# %s for %dx%d, %d channel(s)\n%s", name, full.H, full.W, full.C, y)
		}
		views = append(views, augment.ViewRecipe{Name: fmt.Sprintf("v%d-%s", i+1, r.Name), Recipe: r})
	}
	if !*show {
		return 0
	}
	var errShow error
	tensor.Pinned(func() {
		img, err := augment.ShowGrid(ctx, full, views, augment.ShowOptions{Images: *images, Draws: *draws, Seed: *seed})
		if err != nil {
			errShow = err
			return
		}
		errShow = plot.SavePNG(*out, img)
	})
	if errShow != nil {
		log.Error().Err(errShow).Msg("augment")
		return 1
	}
	fmt.Fprintln(stdout, "wrote", *out)
	return 0
}
