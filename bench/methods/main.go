// Command methods is `make bench-methods`: it pre-trains every method of
// recipes/<method>-fmnist.yaml on Fashion-MNIST with convnet-s for one
// budget (same epochs, each recipe's batch size and hyper-parameters),
// through the method's plugin as a user would, evaluates each trunk with
// the standard protocol (kNN k=200 T=0.1, 30-epoch linear probe), and writes
// the table to docs/benchmarks.md next to the raw-pixel and random-init
// baselines.
//
// Every method's numbers go to <out>/<method>/result.json as soon as they
// exist, and a rerun skips methods that have one, so an interrupted run
// continues where it stopped (delete a result to measure a method again).
// The table is rewritten after every method.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// order is the table's order: the families of the survey, SimCLR first as
// the reference row. simclrv2_distill needs simclrv2's run (its teacher).
var order = []string{
	"simclr", "simclrv2", "simclrv2_distill", "moco", "mocov3", "byol", "simsiam",
	"barlowtwins", "swav", "dino", "invaspread", "instdisc", "pixpro",
	"infonce", "nce", "align_uniform", "debiased", "hardneg", "flatnce", "cpcv2",
}

type options struct {
	bin, recipes, out, table string
	epochs                   float64
	only                     string
	timingSteps              int
	log                      zerolog.Logger
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "folder of the selfsup binaries (make build)")
	flag.StringVar(&o.recipes, "recipes", "recipes", "folder of <method>-fmnist.yaml recipes")
	flag.StringVar(&o.out, "out", "runs/bench-methods", "folder for the runs and their result.json")
	flag.StringVar(&o.table, "table", "docs/benchmarks.md", "markdown table to write")
	flag.Float64Var(&o.epochs, "epochs", 1, "pre-training epochs of every method (the budget)")
	flag.StringVar(&o.only, "methods", "", "comma-separated methods (default: every method with a recipe)")
	flag.IntVar(&o.timingSteps, "timing-steps", 40, "steps of the separate timing run of each method, after all are trained (0: skip it)")
	flag.Parse()
	o.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		o.log.Error().Err(err).Msg("bench-methods")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if _, err := os.Stat(filepath.Join(o.bin, "selfsup")); err != nil {
		return fmt.Errorf("%w: run `make build` first", err)
	}
	methods, err := o.methods()
	if err != nil {
		return err
	}
	base, err := o.baselines(ctx)
	if err != nil {
		return err
	}
	failed := map[string]result{}
	for i, m := range methods {
		if _, err := o.method(ctx, m, i+1, len(methods)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.log.Error().Err(err).Str("method", m).Msg("failed; its row says so")
			failed[m] = result{Method: m, Error: err.Error()}
		}
		if err := writeTable(o.table, o.epochs, o.saved(failed), base); err != nil {
			return err
		}
	}
	// Wall-clock per epoch from the training runs depends on whatever else
	// the machine did meanwhile; a short timing run of every method, one
	// after the other once all are trained, measures them alike.
	for i, m := range methods {
		if _, bad := failed[m]; bad || o.timingSteps <= 0 {
			continue
		}
		if err := o.time(ctx, m, i+1, len(methods)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.log.Error().Err(err).Str("method", m).Msg("timing failed; the table keeps the training run's time")
		}
		if err := writeTable(o.table, o.epochs, o.saved(failed), base); err != nil {
			return err
		}
	}
	o.log.Info().Str("table", o.table).Msg("done")
	return nil
}

// saved gathers the table's rows: every method of this budget with a
// result.json under out (earlier invocations' too), and this run's
// failures, in the table's order.
func (o options) saved(failed map[string]result) []result {
	names := slices.Clone(order)
	if dirs, err := os.ReadDir(o.out); err == nil {
		for _, d := range dirs {
			if !slices.Contains(names, d.Name()) && !strings.HasPrefix(d.Name(), "_") {
				names = append(names, d.Name())
			}
		}
	}
	var out []result
	for _, m := range names {
		if r, ok := failed[m]; ok {
			out = append(out, r)
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.out, m, "result.json"))
		if err != nil {
			continue
		}
		var r result
		if json.Unmarshal(b, &r) == nil && r.Epochs == o.epochs {
			out = append(out, r)
		}
	}
	return out
}

// methods lists the methods to run: the -methods flag, else every method of
// order that has a recipe, then any other recipe in alphabetical order.
func (o options) methods() ([]string, error) {
	if o.only != "" {
		return strings.Split(o.only, ","), nil
	}
	files, err := filepath.Glob(filepath.Join(o.recipes, "*-fmnist.yaml"))
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, f := range files {
		have[strings.TrimSuffix(filepath.Base(f), "-fmnist.yaml")] = true
	}
	var out []string
	for _, m := range order {
		if have[m] {
			out = append(out, m)
			delete(have, m)
		}
	}
	var rest []string
	for m := range have {
		rest = append(rest, m)
	}
	slices.Sort(rest)
	return append(out, rest...), nil
}

// result is one method's row.
type result struct {
	Method      string  `json:"method"`
	Epochs      float64 `json:"epochs"`
	Steps       int64   `json:"steps"`
	Batch       int     `json:"batch"`
	KNN         float64 `json:"knn"`
	LinearRaw   float64 `json:"linear_raw"`
	LinearL2    float64 `json:"linear_l2"`
	SecPerEpoch float64 `json:"sec_per_epoch"`
	// MedianStep is the median step time in seconds; SecPerEpoch is the sum
	// of the step times divided by the epochs.
	MedianStep float64 `json:"median_step_s"`
	// TimingSteps and TimedStep are the separate timing run's length and
	// median step time (seconds); once it ran, SecPerEpoch is TimedStep
	// times the steps of an epoch and RunSecPerEpoch the training run's.
	TimingSteps    int     `json:"timing_steps,omitempty"`
	TimedStep      float64 `json:"timed_step_s,omitempty"`
	RunSecPerEpoch float64 `json:"run_sec_per_epoch,omitempty"`
	// PeakMiB is the peak resident memory of the host and its plugin
	// process together during pre-training.
	PeakMiB  float64 `json:"peak_mib"`
	LossFrom float64 `json:"loss_first"`
	LossTo   float64 `json:"loss_last"`
	Error    string  `json:"error,omitempty"`
}

// method pre-trains and evaluates one method, or returns its saved result.
func (o options) method(ctx context.Context, m string, i, n int) (result, error) {
	dir := filepath.Join(o.out, m)
	resFile := filepath.Join(dir, "result.json")
	var r result
	if b, err := os.ReadFile(resFile); err == nil {
		if err := json.Unmarshal(b, &r); err == nil && r.Epochs == o.epochs {
			o.log.Info().Str("method", m).Msgf("[%d/%d] kept %s (delete it to measure again)", i, n, resFile)
			return r, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return r, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	args := []string{"pretrain", "--config", filepath.Join(o.recipes, m+"-fmnist.yaml"),
		"--epochs", fmt.Sprint(o.epochs), "--out", dir, "--no-eval"}
	extra, err := o.extraArgs(m)
	if err != nil {
		return r, err
	}
	args = append(args, extra...)
	o.log.Info().Str("method", m).Msgf("[%d/%d] pre-training %g epoch(s)", i, n, o.epochs)
	peak, err := o.exec(ctx, filepath.Join(dir, "pretrain.log"), args...)
	if err != nil {
		return r, fmt.Errorf("pretrain %s: %w (see %s)", m, err, filepath.Join(dir, "pretrain.log"))
	}
	r, err = readMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return r, err
	}
	r.Method, r.Epochs, r.PeakMiB = m, o.epochs, peak
	if r.Batch, err = recipeBatch(filepath.Join(o.recipes, m+"-fmnist.yaml")); err != nil {
		return r, err
	}
	o.log.Info().Str("method", m).Msgf("[%d/%d] evaluating", i, n)
	evalArgs := []string{"eval", "--no-baselines", filepath.Join(dir, "checkpoint.safetensors")}
	if m == "simclrv2" {
		// The teacher classifier of simclrv2_distill: the linear probe on
		// simclrv2's raw features.
		evalArgs = append(evalArgs, "--save-probe", filepath.Join(dir, "probe.safetensors"))
	}
	if _, err := o.exec(ctx, filepath.Join(dir, "eval.log"), evalArgs...); err != nil {
		return r, fmt.Errorf("eval %s: %w (see %s)", m, err, filepath.Join(dir, "eval.log"))
	}
	rows, err := readEval(filepath.Join(dir, "eval.json"))
	if err != nil {
		return r, err
	}
	if len(rows) == 0 {
		return r, fmt.Errorf("%s: no rows", filepath.Join(dir, "eval.json"))
	}
	r.KNN, r.LinearRaw, r.LinearL2 = rows[0].KNN, rows[0].LinearRaw, rows[0].LinearL2
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return r, err
	}
	o.log.Info().Str("method", m).Float64("knn", r.KNN).Float64("linear", r.LinearRaw).Float64("s_per_epoch", r.SecPerEpoch).Float64("peak_mib", r.PeakMiB).Msgf("[%d/%d] done", i, n)
	return r, os.WriteFile(resFile, b, 0o644)
}

// time runs method m's recipe for timingSteps steps (no evaluation) and
// sets its result's SecPerEpoch to the median step time after 5 warm-up
// steps times the steps of an epoch.
func (o options) time(ctx context.Context, m string, i, n int) error {
	dir := filepath.Join(o.out, m)
	resFile := filepath.Join(dir, "result.json")
	b, err := os.ReadFile(resFile)
	if err != nil {
		return err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", resFile, err)
	}
	if r.TimingSteps == o.timingSteps {
		return nil
	}
	tdir := filepath.Join(dir, "_timing")
	if err := os.RemoveAll(tdir); err != nil {
		return err
	}
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return err
	}
	extra, err := o.extraArgs(m)
	if err != nil {
		return err
	}
	o.log.Info().Str("method", m).Msgf("[%d/%d] timing %d steps", i, n, o.timingSteps)
	args := append([]string{"pretrain", "--config", filepath.Join(o.recipes, m+"-fmnist.yaml"),
		"--steps", fmt.Sprint(o.timingSteps), "--out", tdir, "--no-eval"}, extra...)
	if _, err := o.exec(ctx, filepath.Join(tdir, "pretrain.log"), args...); err != nil {
		return fmt.Errorf("timing %s: %w (see %s)", m, err, filepath.Join(tdir, "pretrain.log"))
	}
	med, err := medianStep(filepath.Join(tdir, "metrics.jsonl"), 5)
	if err != nil {
		return err
	}
	r.TimingSteps, r.TimedStep = o.timingSteps, med
	r.RunSecPerEpoch = r.SecPerEpoch
	r.SecPerEpoch = med * float64(r.Steps) / r.Epochs
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	o.log.Info().Str("method", m).Float64("median_step_s", med).Float64("s_per_epoch", r.SecPerEpoch).Msgf("[%d/%d] timed", i, n)
	return os.WriteFile(resFile, out, 0o644)
}

// extraArgs are a method's flags beyond its recipe: simclrv2_distill starts
// from simclrv2's trunk (the teacher) and reads its probe as the teacher's
// classifier.
func (o options) extraArgs(m string) ([]string, error) {
	if m != "simclrv2_distill" {
		return nil, nil
	}
	teacher := filepath.Join(o.out, "simclrv2")
	ck, probe := filepath.Join(teacher, "checkpoint.safetensors"), filepath.Join(teacher, "probe.safetensors")
	for _, f := range []string{ck, probe} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("simclrv2_distill distils simclrv2's run: %w (bench simclrv2 first)", err)
		}
	}
	return []string{"--init", ck, "--set", "teacher_head=" + probe}, nil
}

// baselines evaluates the raw-pixel and random-init rows once, on a short
// run's checkpoint (only its architecture matters), or reads them back.
func (o options) baselines(ctx context.Context) ([]evalRow, error) {
	dir := filepath.Join(o.out, "_baselines")
	file := filepath.Join(dir, "eval.json")
	if rows, err := readEval(file); err == nil {
		return rows, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o.log.Info().Msg("baselines: raw pixels and random-init convnet-s")
	if _, err := o.exec(ctx, filepath.Join(dir, "pretrain.log"), "pretrain", "--method", "simclr", "--steps", "1", "--subset", "512", "--out", dir, "--no-eval"); err != nil {
		return nil, fmt.Errorf("baselines: %w (see %s)", err, filepath.Join(dir, "pretrain.log"))
	}
	if _, err := o.exec(ctx, filepath.Join(dir, "eval.log"), "eval", filepath.Join(dir, "checkpoint.safetensors")); err != nil {
		return nil, fmt.Errorf("baselines: %w (see %s)", err, filepath.Join(dir, "eval.log"))
	}
	return readEval(file)
}

// exec runs bin/selfsup with args, its output to logFile, and returns the
// peak resident memory (MiB) of it and its children, sampled every 200 ms.
func (o options) exec(ctx context.Context, logFile string, args ...string) (float64, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(o.bin, "selfsup"), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	fmt.Fprintf(f, "$ %s %s\n", cmd.Path, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	peakc := make(chan float64, 1)
	go func() {
		peak := 0.0
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := treeRSS(cmd.Process.Pid); kb/1024 > peak {
				peak = kb / 1024
			}
			select {
			case <-done:
				peakc <- peak
				return
			case <-tick.C:
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	peak := <-peakc
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return peak, fmt.Errorf("selfsup %s: %w", args[0], err)
	}
	return peak, err
}
