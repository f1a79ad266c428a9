package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/plugins"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/train"
)

// runFlags are the flags pretrain shares with other commands that train.
type runFlags struct {
	config    string
	method    string
	encoder   string
	epochs    float64
	steps     int64
	snapEvery int64
	batch     int
	lr        float64
	optimizer string
	seed      optUint
	device    string
	out       string
	data      string
	subset    int
	threads   int
	inProcess bool
	resume    bool
	noEval    bool
	init      string
	saveProbe string
	methodCfg kvFlags
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "recipe file (YAML, see recipes/); flags override it")
	fs.StringVar(&f.method, "method", "", "method name (simclr, moco, mocov3, curl, ...); default the recipe's, else simclr")
	fs.StringVar(&f.encoder, "encoder", "", "trunk: convnet-s, resnet18-cifar, resnet18, resnet50 (default convnet-s)")
	fs.Float64Var(&f.epochs, "epochs", 0, "epochs of the training set (default 1)")
	fs.Int64Var(&f.steps, "steps", 0, "train this many steps instead of epochs")
	fs.IntVar(&f.batch, "batch-size", 0, "images per step (default 256)")
	fs.Int64Var(&f.snapEvery, "snapshot-every", 0, "keep an in-memory snapshot every N steps, from which a plugin that dies is restarted and its steps replayed exactly (default 100)")
	fs.Float64Var(&f.lr, "lr", 0, "trunk learning rate (default 1e-3 with adam)")
	fs.StringVar(&f.optimizer, "optimizer", "", "trunk optimizer: adam, adamw, sgd, lars (default adam)")
	fs.Var(&f.seed, "seed", "random seed; same seed, same CPU result (default 0)")
	fs.StringVar(&f.device, "device", "", "cpu, cuda, cuda:N or auto (default cpu)")
	fs.StringVar(&f.out, "out", "", "run folder for metrics.jsonl, loss.png, checkpoint.safetensors, eval.json (default runs/<method>)")
	fs.StringVar(&f.data, "data", "", "fashion-mnist or a folder of images (class subfolders = labels)")
	fs.IntVar(&f.subset, "subset", 0, "use only the first N training images")
	fs.IntVar(&f.threads, "threads", 0, "libtorch threads (default: all CPUs)")
	fs.BoolVar(&f.inProcess, "in-process", false, "run the method inside this process instead of its plugin binary")
	fs.BoolVar(&f.resume, "resume", false, "continue from the run folder's checkpoint")
	fs.BoolVar(&f.noEval, "no-eval", false, "skip the evaluation after training")
	fs.StringVar(&f.init, "init", "", "start the trunk (and the method's target copy) from the trunk of this pre-training checkpoint or run folder")
	fs.StringVar(&f.saveProbe, "save-probe", "", "after the evaluation, write the trunk's linear probe on raw features to this safetensors file (a teacher_head for simclrv2_distill)")
	fs.Var(&f.methodCfg, "set", "method hyper-parameter KEY=VALUE (repeatable), e.g. --set temperature=0.2")
}

// apply merges the flags into a recipe (flags win).
func (f *runFlags) apply(r *recipe) error {
	if f.method != "" {
		r.Method = f.method
	}
	if r.Method == "" {
		r.Method = "simclr"
	}
	t := &r.Train
	if f.encoder != "" {
		t.Encoder = f.encoder
	}
	if f.epochs > 0 {
		t.Epochs, t.Steps = f.epochs, 0
	}
	if f.steps > 0 {
		t.Steps = f.steps
	}
	if f.batch > 0 {
		t.BatchSize = f.batch
	}
	if f.snapEvery > 0 {
		t.SnapshotEvery = f.snapEvery
	}
	if f.optimizer != "" {
		t.Optimizer.Name = f.optimizer
	}
	if f.lr > 0 {
		t.Optimizer.LR = f.lr
	}
	if f.seed.set {
		t.Seed = f.seed.v
	}
	if f.device != "" {
		t.Device = f.device
	}
	if f.out != "" {
		t.Out = f.out
	}
	if t.Out == "" {
		t.Out = filepath.Join("runs", r.Method)
	}
	if f.data != "" {
		r.Data.Source = f.data
	}
	if f.subset > 0 {
		r.Data.Subset = f.subset
	}
	if f.init != "" {
		t.Init = f.init
	}
	if f.saveProbe != "" {
		r.Eval.SaveProbe = f.saveProbe
	}
	if f.noEval && r.Eval.SaveProbe != "" {
		return fmt.Errorf("--save-probe (eval.save_probe) needs the evaluation: drop --no-eval, or save the probe later with selfsup eval --save-probe FILE CHECKPOINT")
	}
	if len(f.methodCfg) > 0 {
		if t.Method == nil {
			t.Method = method.Params{}
		}
		for k, v := range f.methodCfg {
			t.Method[k] = v
		}
	}
	return nil
}

// openMethod opens a method by name: its plugin binary (the default), or the
// built-in package in this process.
func openMethod(ctx context.Context, name string, inProcess bool, log zerolog.Logger) (method.Method, error) {
	if inProcess {
		return plugins.New(name)
	}
	m, err := plugin.Open(ctx, name, plugin.Options{Logger: &log}) // a death mid-run: the trainer recovers it (recovery.Guard)
	if err != nil {
		return nil, fmt.Errorf("open method %s: %w (build the plugins with `make build`, or pass --in-process)", name, err)
	}
	return m, nil
}

func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: selfsup pretrain [--config recipe.yaml] [flags]

Pre-trains an encoder with a self-supervised method on the recipe's data
(default: SimCLR on Fashion-MNIST with convnet-s), writing metrics.jsonl,
loss.png and checkpoint.safetensors to the run folder, then evaluates the
trunk (kNN, linear probe, alignment/uniformity) next to raw-pixel and
random-init baselines and writes eval.json. Ctrl-C writes a checkpoint;
--resume continues from it. --init CKPT starts the trunk from another run's
checkpoint (SimCLR v2 self-distillation: the frozen teacher); --save-probe
FILE keeps the evaluation's linear probe on raw features.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	log := newLogger(stderr)
	var r recipe
	if f.config != "" {
		var err error
		if r, err = loadRecipe(f.config); err != nil {
			log.Error().Err(err).Msg("pretrain")
			return 1
		}
	}
	if err := f.apply(&r); err != nil {
		log.Error().Err(err).Msg("pretrain")
		return 2
	}
	backend.ConfigureThreads(f.threads)
	if err := pretrain(ctx, r, f, stdout, stderr, log); err != nil {
		if errors.Is(err, context.Canceled) {
			log.Warn().Msg("stopped")
			return 130
		}
		log.Error().Err(err).Msg("pretrain")
		return 1
	}
	return 0
}

func pretrain(ctx context.Context, r recipe, f runFlags, stdout, stderr io.Writer, log zerolog.Logger) error {
	trainSet, fullTrain, testSet, err := loadData(ctx, r.Data)
	if err != nil {
		return err
	}
	m, err := openMethod(ctx, r.Method, f.inProcess, log)
	if err != nil {
		return err
	}
	tr, err := train.New(ctx, r.Train, train.Options{Data: trainSet, Method: m, Recipes: r.Augment, Log: log})
	if err != nil {
		m.Close()
		return err
	}
	defer tr.Close()
	ckpt := filepath.Join(r.Train.Out, train.CheckpointFile)
	if f.resume {
		if err := tr.Resume(ctx, ckpt); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		log.Info().Int64("step", tr.StepsDone()).Str("checkpoint", ckpt).Msg("resumed")
	} else if _, err := os.Stat(ckpt); err == nil {
		return fmt.Errorf("%s already holds a checkpoint: pass --resume to continue it, or --out for a new run folder", r.Train.Out)
	}
	if err := tr.Run(ctx, stderr); err != nil {
		return err
	}
	log.Info().Str("checkpoint", ckpt).Str("loss_plot", filepath.Join(r.Train.Out, train.LossPlotFile)).Msg("trained")
	if f.noEval {
		return nil
	}
	if testSet == nil {
		log.Warn().Msg("no test split (data.test): skipping evaluation")
		return nil
	}
	rep, err := evaluate(ctx, fmt.Sprintf("%s (%s, step %d)", r.Method, tr.Trunk().Name(), tr.StepsDone()), tr.Trunk(), fullTrain, testSet, r, stderr, log)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	return rep.WriteFiles(r.Train.Out, stdout)
}
