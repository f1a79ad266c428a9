package eval_test

import (
	"context"
	"log"
	"os"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/eval"
)

// Evaluate a trunk next to the raw-pixel and random-init baselines, print
// the table and write eval.json and linear.png.
func Example() {
	ctx := context.Background()
	train, err := data.LoadFashionMNIST("", data.Train)
	if err != nil {
		log.Fatal(err)
	}
	test, err := data.LoadFashionMNIST("", data.Test)
	if err != nil {
		log.Fatal(err)
	}
	opts := eval.Options{Progress: os.Stderr} // k=200, T=0.1; 30-epoch probes
	ext := eval.ExtractOptions{Norm: eval.FashionMNISTNorm()}
	report := eval.NewReport("fashion-mnist", train.N, test.N, opts)

	backend.ManualSeed(0)
	random, err := encoder.New(encoder.ConvNetS, 1, gotch.CPU)
	if err != nil {
		log.Fatal(err)
	}
	trained := random // in a host: the pre-trained trunk from a checkpoint

	for _, c := range []struct {
		name     string
		enc      encoder.Encoder
		baseline bool
	}{{"simclr", trained, false}, {"random convnet-s", random, true}, {"raw pixels", nil, true}} {
		var f eval.Features
		if c.enc == nil {
			f, err = eval.PixelFeatures(ctx, train, test, ext)
		} else {
			f, err = eval.EncoderFeatures(ctx, c.name, c.enc, train, test, ext)
		}
		if err != nil {
			log.Fatal(err)
		}
		f.Baseline = c.baseline
		res, err := eval.Evaluate(ctx, f, train.Labels, test.Labels, opts)
		f.Drop()
		if err != nil {
			log.Fatal(err)
		}
		report.Add(res)
	}
	report.Add(eval.FashionMNISTReference()...)
	if err := report.WriteTable(os.Stdout); err != nil {
		log.Fatal(err)
	}
	if err := report.WriteJSON("eval.json"); err != nil {
		log.Fatal(err)
	}
	if err := report.WriteProbePNG("linear.png"); err != nil {
		log.Fatal(err)
	}
}
