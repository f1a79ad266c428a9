package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/sdk/train"
	"github.com/selfsup/selfsup/translate"
)

func runEval(ctx context.Context, a *app, args []string) error {
	fs := newFlags("eval", "--generator FILE --data DIR [--size 256] [--encoder CHECKPOINT] [--out FILE]", a)
	weights := fs.String("generator", "", "a run's generator.safetensors (required)")
	data := fs.String("data", "", "a paired set (selfsup-translate data): SPLITA images with their truth in SPLITB (required)")
	split := fs.String("split", "test", "split to score: test or train")
	size := fs.Int("size", 256, "images are resized to this side")
	out := fs.String("out", "", "also write the scores as JSON to this file")
	encPath := fs.String("encoder", "", "a `selfsup pretrain` checkpoint whose trunk's features give a Fréchet distance and KID (not Inception's FID)")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *weights == "" || *data == "" {
		return usageError{Err: errors.New("--generator and --data are required")}
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
	var enc encoder.Encoder
	if *encPath != "" {
		if enc, _, err = train.LoadTrunk(*encPath, dev); err != nil {
			return fmt.Errorf("load the feature encoder: %w", err)
		}
	}
	ev, err := translate.Evaluate(ctx, g, *data, *split, *size, enc)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d pairs of %s, %d×%d, against the true B (values in [0, 1])\n", ev.Pairs, *split, *size, *size)
	fmt.Fprintf(a.stdout, "%-12s %8s %8s %8s\n", "", "L1", "PSNR dB", "SSIM")
	fmt.Fprintf(a.stdout, "%-12s %8.4f %8.2f %8.4f\n", "G(A)", ev.Translated.L1, ev.Translated.PSNR, ev.Translated.SSIM)
	fmt.Fprintf(a.stdout, "%-12s %8.4f %8.2f %8.4f\n", "A (as is)", ev.Source.L1, ev.Source.PSNR, ev.Source.SSIM)
	if enc != nil {
		fmt.Fprintf(a.stdout, "\nagainst the B images, on the features of %s's %s trunk (pre-trained with selfsup; not Inception's FID):\n", *encPath, ev.Encoder)
		fmt.Fprintf(a.stdout, "%-12s %10s %10s\n", "", "Fréchet", "KID")
		fmt.Fprintf(a.stdout, "%-12s %10.4f %10.5f\n", "G(A)", ev.FDTranslated, ev.KIDTranslated)
		fmt.Fprintf(a.stdout, "%-12s %10.4f %10.5f\n", "A (as is)", ev.FDSource, ev.KIDSource)
	}
	if *out != "" {
		b, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
