package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/translate"
)

func runApply(ctx context.Context, a *app, args []string) error {
	fs := newFlags("apply", "--generator FILE --in IMAGE|DIR --out DIR [--size 256]", a)
	weights := fs.String("generator", "", "a run's generator.safetensors (required)")
	in := fs.String("in", "", "an image or a folder of images (required)")
	out := fs.String("out", "", "folder for the translations (required)")
	size := fs.Int("size", 256, "images are resized to this side before translation")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *weights == "" || *in == "" || *out == "" {
		return usageError{Err: errors.New("--generator, --in and --out are required")}
	}
	dev, err := tensor.ParseDevice(*device)
	if err != nil {
		return usageError{Err: err}
	}
	g, err := loadGenerator(*weights, dev)
	if err != nil {
		return err
	}
	defer g.Close()
	paths := []string{*in}
	if st, err := os.Stat(*in); err == nil && st.IsDir() {
		f, err := translate.OpenFolder(*in)
		if err != nil {
			return err
		}
		paths = f.Paths
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	pre := translate.Preprocess{Load: *size, Crop: *size}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, err := translate.LoadImage(p)
		if err != nil {
			return err
		}
		res, err := translate.Translate(g, pre.Apply(img, nil), *size)
		if err != nil {
			return err
		}
		name := filepath.Join(*out, stem(p)+".png")
		if err := translate.SavePNG(name, res); err != nil {
			return err
		}
	}
	a.log.Info().Int("images", len(paths)).Str("out", *out).Msg("translated")
	return nil
}

func stem(p string) string {
	b := filepath.Base(p)
	return b[:len(b)-len(filepath.Ext(b))]
}

// loadGenerator builds the generator its weights' metadata describes and
// loads them.
func loadGenerator(path string, dev gotch.Device) (*translate.Generator, error) {
	vars, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the generator: %w", err)
	}
	defer func() {
		for _, v := range vars {
			v.MustDrop()
		}
	}()
	cfg := translate.DefaultGenerator()
	if cfg.NGF, err = strconv.ParseInt(meta["ngf"], 10, 64); err == nil {
		cfg.Blocks, err = strconv.Atoi(meta["blocks"])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: metadata %v does not describe a generator (ngf, blocks): %w", path, meta, err)
	}
	cfg.NoAntialias, cfg.NoAntialiasUp = meta["no_antialias"] == "true", meta["no_antialias_up"] == "true"
	g, err := translate.NewGenerator(cfg, dev, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := translate.LoadGenerator(g, vars); err != nil {
		g.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}
