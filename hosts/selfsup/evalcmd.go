package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/sdk/train"
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dataSrc = fs.String("data", "", "fashion-mnist or a folder; default the checkpoint's")
		testDir = fs.String("test", "", "folder of the test split (folder data)")
		out     = fs.String("out", "", "folder for eval.json and linear.png (default: the checkpoint's folder)")
		k       = fs.Int("k", 200, "neighbours of the weighted kNN")
		temp    = fs.Float64("t", 0.1, "temperature of the kNN vote")
		epochs  = fs.Int("linear-epochs", 30, "epochs of the linear probe")
		noBase  = fs.Bool("no-baselines", false, "skip the raw-pixel and random-init baselines")
		device  = fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
		threads = fs.Int("threads", 0, "libtorch threads (default: all CPUs)")
		seed    = fs.Int64("seed", 0, "seed of the probes and of the random-init baseline")
		save    = fs.String("save-probe", "", "write the trunk's linear probe on raw features to this safetensors file (weight [C, D], bias [C]: a teacher_head for simclrv2_distill)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: selfsup eval [flags] CHECKPOINT

Evaluates the trunk of a pre-training checkpoint on frozen features: weighted
kNN (cosine, k=200, T=0.1; the train split is the bank, the test split the
queries), a linear probe (Adam 1e-3, batch 256, 30 epochs) on raw and on
L2-normalised features, and alignment/uniformity; next to the raw-pixel and
random-init baselines of the same data. Prints a table, writes eval.json and
linear.png; --save-probe FILE also writes the trunk's raw-feature probe as a
Linear classifier (the teacher_head of simclrv2_distill).

Flags:`)
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	log := newLogger(stderr)
	backend.ConfigureThreads(*threads)
	dev, err := tensor.ParseDevice(*device)
	if err != nil {
		log.Error().Err(err).Msg("eval")
		return 2
	}
	ckpt := pos[0]
	trunk, info, err := train.LoadTrunk(ckpt, dev)
	if err != nil {
		log.Error().Err(err).Msg("eval")
		return 1
	}
	r := recipe{Method: info.Method, Train: info.Config}
	r.Data.Source = *dataSrc
	r.Data.Test = *testDir
	r.Train.Seed = uint64(*seed)
	r.Eval = evalConfig{K: *k, T: *temp, LinearEpochs: *epochs, NoBaselines: *noBase, SaveProbe: *save}
	_, trainSet, testSet, err := loadData(ctx, r.Data)
	if err != nil {
		log.Error().Err(err).Msg("eval")
		return 1
	}
	if testSet == nil {
		log.Error().Msg("eval: no test split: pass --test DIR for folder data")
		return 2
	}
	rep, err := evaluate(ctx, fmt.Sprintf("%s (%s, step %d)", info.Method, info.Encoder, info.Step), trunk, trainSet, testSet, r, stderr, log)
	if err != nil {
		log.Error().Err(err).Msg("eval")
		return 1
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(ckpt)
	}
	if err := rep.WriteFiles(dir, stdout); err != nil {
		log.Error().Err(err).Msg("eval")
		return 1
	}
	return 0
}
