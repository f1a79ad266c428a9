// Command embed pre-trains and evaluates an encoder through the SDK's Go
// API, in this process: no CLI and no plugin binary. It trains convnet-s
// with SimCLR (the plugins/simclr package, imported) on the first images of
// Fashion-MNIST, evaluates it against the random-init and raw-pixel
// baselines with eval.Run, and writes the run folder (metrics.jsonl,
// loss.png, checkpoint, eval.json, linear.png).
//
//	go run ./examples/embed --steps 200 --out runs/embed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/eval"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/train"
)

func main() {
	// libtorch's OpenMP threads sleep instead of spinning (re-execs once).
	if err := backend.EnsurePassiveWait(); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
	}
	var o options
	flag.Int64Var(&o.steps, "steps", 200, "training steps")
	flag.IntVar(&o.batch, "batch", 128, "batch size")
	flag.IntVar(&o.subset, "subset", 5000, "train on the first N training images")
	flag.IntVar(&o.bank, "bank", 60000, "evaluate with the first N training images as kNN bank and probe data")
	flag.IntVar(&o.test, "test", 2000, "evaluate on the first N test images")
	flag.StringVar(&o.out, "out", "runs/embed", "run folder")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

type options struct {
	steps                     int64
	batch, subset, bank, test int
	out                       string
}

// run trains and evaluates; it returns the losses of the steps and the
// evaluation report.
func run(ctx context.Context, o options) (*result, error) {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	head := func(split data.Split, n int) (*data.Dataset, error) {
		d, err := data.LoadFashionMNIST("", split) // Debian's dataset-fashion-mnist
		if err != nil || n >= d.Len() {
			return d, err
		}
		return d.Head(n)
	}
	trainSet, err1 := head(data.Train, o.subset)
	bank, err2 := head(data.Train, o.bank)
	test, err3 := head(data.Test, o.test)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}

	// The method runs in process: any method.Method will do, a built-in
	// package (as here) or plugin.Open("moco", ...) for a plugin binary.
	m := simclr.New()
	cfg := train.Config{Encoder: "convnet-s", BatchSize: o.batch, Steps: o.steps, Seed: 1, Out: o.out,
		Method: method.Params{"temperature": 0.5}}
	tr, err := train.New(ctx, cfg, train.Options{Data: trainSet, Method: m, Log: log})
	if err != nil {
		m.Close()
		return nil, err
	}
	defer tr.Close() // closes the method too
	if err := tr.Run(ctx, os.Stderr); err != nil {
		return nil, err
	}
	res := &result{}
	for _, r := range tr.History() {
		res.losses = append(res.losses, r.Loss)
	}

	res.report, err = eval.Run(ctx, tr.Trunk(), bank, test, eval.Protocol{
		Name:     fmt.Sprintf("simclr (convnet-s, %d steps)", tr.StepsDone()),
		Probe:    eval.ProbeOptions{Epochs: 5},
		Seed:     cfg.Seed,
		Progress: os.Stderr, Log: log,
	})
	if err != nil {
		return nil, err
	}
	return res, res.report.WriteFiles(o.out, os.Stdout)
}

type result struct {
	losses []float64
	report *eval.Report
}
