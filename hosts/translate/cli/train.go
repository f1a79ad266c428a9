package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/translate"
)

func runTrain(ctx context.Context, a *app, args []string) error {
	fs := newFlags("train", "--data DIR [--out DIR] [--mode cut|fastcut] [--resume]", a)
	data := fs.String("data", "", "folder with trainA and trainB (and testA/testB for the grids; required)")
	out := fs.String("out", "runs/translate", "folder for metrics.jsonl, grids/ and generator.safetensors")
	mode := fs.String("mode", "cut", "cut (λ_NCE 1, identity NCE) or fastcut (λ_NCE 10, flip-equivariance)")
	netG := fs.String("netG", "resnet_9blocks", "generator: resnet_9blocks or resnet_6blocks")
	ngf := fs.Int64("ngf", 64, "generator filters")
	ndf := fs.Int64("ndf", 64, "discriminator filters")
	noAA := fs.Bool("no-antialias", false, "strided convolutions instead of anti-aliased down-sampling")
	noAAUp := fs.Bool("no-antialias-up", false, "transposed convolutions instead of anti-aliased up-sampling")
	load := fs.Int("load-size", 286, "images are resized to this side")
	crop := fs.Int("crop-size", 256, "then randomly cropped to this side")
	noFlip := fs.Bool("no-flip", false, "no random horizontal flips")
	batch := fs.Int("batch", 1, "images per iteration")
	epochs := fs.Int64("epochs", 0, "epochs to train (0: n_epochs + n_epochs_decay of the mode: 400 CUT, 200 FastCUT)")
	nEpochs := fs.Int64("n-epochs", 0, "epochs at the initial learning rate (0: the mode's)")
	nDecay := fs.Int64("n-epochs-decay", 0, "epochs of linear decay (0: the mode's)")
	patches := fs.Int("num-patches", 256, "patches per NCE layer and image")
	gridEvery := fs.Int64("grid-every", 1, "epochs between PNG grids (input | output | truth)")
	resume := fs.Bool("resume", false, "continue the run in --out from its checkpoint (written every epoch; start it when there is none): the result equals an uninterrupted run")
	inProcess := fs.Bool("in-process", false, "run PatchNCE in this process instead of its plugin binary")
	seed := fs.Uint64("seed", 1, "seed of the weights, the data order, flips and patch positions")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageError{Err: errors.New("--data is required")}
	}
	var cfg translate.Config
	switch *mode {
	case "cut":
		cfg = translate.CUTConfig()
	case "fastcut":
		cfg = translate.FastCUTConfig()
	default:
		return usageError{Err: fmt.Errorf("--mode %q: want cut or fastcut", *mode)}
	}
	switch *netG {
	case "resnet_9blocks":
		cfg.G.Blocks = 9
	case "resnet_6blocks":
		cfg.G.Blocks = 6
	default:
		return usageError{Err: fmt.Errorf("--netG %q: want resnet_9blocks or resnet_6blocks", *netG)}
	}
	cfg.G.NGF, cfg.D.NDF, cfg.G.NoAntialias, cfg.G.NoAntialiasUp, cfg.D.NoAntialias = *ngf, *ndf, *noAA, *noAAUp, *noAA
	cfg.NumPatches, cfg.Seed = *patches, *seed
	if *nEpochs > 0 {
		cfg.NEpochs = *nEpochs
	}
	if *nDecay > 0 {
		cfg.NEpochsDecay = *nDecay
	}
	dev, err := tensor.ParseDevice(*device)
	if err != nil {
		return usageError{Err: err}
	}
	var m method.Method
	if *inProcess {
		m = patchnce.New()
	} else if m, err = plugin.Open(ctx, patchnce.Name, plugin.Options{Method: patchnce.Name}); err != nil {
		return fmt.Errorf("open the PatchNCE plugin (make build, or --in-process): %w", err)
	}
	return translate.Train(ctx, translate.TrainOptions{Data: *data, Out: *out, Model: cfg,
		Pre: translate.Preprocess{Load: *load, Crop: *crop, NoFlip: *noFlip}, Batch: *batch, Epochs: *epochs,
		GridEvery: *gridEvery, Resume: *resume, Device: dev, Log: a.log, Progress: a.stderr}, m)
}
