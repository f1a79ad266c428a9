// Command rl is `make bench-rl`: it trains SAC agents (CURL, pixel SAC,
// state SAC, ...) on one task for a budget of environment steps with
// several seeds, each run through `selfsup-rl train --resume` in its own
// folder under runs/bench-rl, so a run stopped (by --budget, Ctrl-C or the
// end of a sitting) continues from its last checkpoint the next time. After
// every run, and at the end, it writes docs/rl.md's table (return at the
// budget, mean ± std over the seeds that reached it), the learning curves
// (docs/rl/<env>.png) and each run's evaluations (docs/rl/runs/*.csv), so
// results can be committed as they come.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/plot"
	"github.com/selfsup/selfsup/sdk/rl/runner"
)

type options struct {
	bin, out, doc, env string
	agents             []string
	seeds              []int
	steps              int64
	budget             time.Duration
	only               bool
	log                zerolog.Logger
}

func main() {
	var o options
	var agents, seeds string
	flag.StringVar(&o.bin, "bin", "bin", "folder of the selfsup binaries (make build)")
	flag.StringVar(&o.out, "out", "runs/bench-rl", "folder of the runs (checkpoints: large, not committed)")
	flag.StringVar(&o.doc, "doc", "docs/rl.md", "markdown page to write")
	flag.StringVar(&o.env, "env", "cartpole-swingup", "task")
	flag.StringVar(&agents, "agents", "state-sac,curl,pixel-sac", "agents (selfsup-rl train --agent), in the order they are run")
	flag.StringVar(&seeds, "seeds", "1,2", "seeds")
	flag.Int64Var(&o.steps, "env-steps", 100_000, "budget of every run in environment steps")
	flag.DurationVar(&o.budget, "budget", 0, "stop training after this long (0: until every run is done); the page is written either way")
	flag.BoolVar(&o.only, "report", false, "only write the page from the runs there are")
	flag.Parse()
	o.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	o.agents = strings.Split(agents, ",")
	for _, s := range strings.Split(seeds, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			o.log.Fatal().Err(err).Msg("--seeds")
		}
		o.seeds = append(o.seeds, v)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		o.log.Error().Err(err).Msg("bench-rl")
		os.Exit(1)
	}
}

// name is a run's folder name.
func (o options) name(agent string, seed int) string {
	return fmt.Sprintf("%s-%s-s%d", o.env, agent, seed)
}

func run(ctx context.Context, o options) error {
	if !o.only {
		if _, err := os.Stat(filepath.Join(o.bin, "selfsup-rl")); err != nil {
			return fmt.Errorf("%w: run `make build` first", err)
		}
		if o.budget > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.budget)
			defer cancel()
		}
		// seeds in the outer loop: every agent gets its first seed before
		// any gets a second
		for _, seed := range o.seeds {
			for _, agent := range o.agents {
				if ctx.Err() != nil {
					break
				}
				if err := o.train(ctx, agent, seed); err != nil && ctx.Err() == nil {
					o.log.Error().Err(err).Str("agent", agent).Int("seed", seed).Msg("run failed; the page says so")
				}
				if err := o.report(); err != nil {
					return err
				}
			}
		}
	}
	return o.report()
}

// train runs (or resumes) one run as a child process; cancelling ctx
// interrupts it, and its last checkpoint stands.
func (o options) train(ctx context.Context, agent string, seed int) error {
	dir := filepath.Join(o.out, o.name(agent, seed))
	if done(dir, o.steps) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "train.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"train", "--env", o.env, "--agent", agent, "--seed", strconv.Itoa(seed),
		"--env-steps", strconv.FormatInt(o.steps, 10), "--checkpoint-every", "2000", "--out", dir, "--resume"}
	o.log.Info().Str("run", o.name(agent, seed)).Strs("args", args).Msg("training")
	cmd := exec.Command(filepath.Join(o.bin, "selfsup-rl"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-ctx.Done():
		// SIGINT to the group: the run stops between steps, its plugin too
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-waited:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
		o.log.Info().Str("run", o.name(agent, seed)).Msg("stopped; the next bench-rl resumes it")
		return ctx.Err()
	}
}

// eval is one line of a run's eval.jsonl.
type eval struct {
	EnvSteps int64   `json:"env_steps"`
	Mean     float64 `json:"mean_return"`
	Std      float64 `json:"std_return"`
}

func readEvals(dir string) []eval {
	f, err := os.Open(filepath.Join(dir, "eval.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []eval
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e eval
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func done(dir string, steps int64) bool {
	ev := readEvals(dir)
	return len(ev) > 0 && ev[len(ev)-1].EnvSteps >= steps
}

// updateSeconds is the mean time of an update (with its sampling) the
// run's train.jsonl last reported; 0 when none.
func updateSeconds(dir string) float64 {
	f, err := os.Open(filepath.Join(dir, "train.jsonl"))
	if err != nil {
		return 0
	}
	defer f.Close()
	var last float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v struct {
			Kind    string  `json:"kind"`
			Update  float64 `json:"update_s"`
			Sample  float64 `json:"sample_s"`
			Updates int64   `json:"updates"`
		}
		if json.Unmarshal(sc.Bytes(), &v) == nil && v.Kind == "update" {
			last = v.Update + v.Sample
		}
	}
	return last
}

// report writes the page, the curves and the runs' CSVs.
func (o options) report() error {
	docDir := strings.TrimSuffix(o.doc, ".md")
	if err := os.MkdirAll(filepath.Join(docDir, "runs"), 0o755); err != nil {
		return err
	}
	var rows []string
	var series []plot.Series
	for _, agent := range o.agents {
		var finals []float64
		var progress []string
		var upd []float64
		curves := map[int64][]float64{}
		for _, seed := range o.seeds {
			dir := filepath.Join(o.out, o.name(agent, seed))
			ev := readEvals(dir)
			if len(ev) == 0 {
				continue
			}
			if err := writeCSV(filepath.Join(docDir, "runs", o.name(agent, seed)+".csv"), ev); err != nil {
				return err
			}
			last := ev[len(ev)-1]
			if last.EnvSteps >= o.steps {
				finals = append(finals, last.Mean)
			} else {
				progress = append(progress, fmt.Sprintf("s%d at %dk: %.0f", seed, last.EnvSteps/1000, last.Mean))
			}
			for _, e := range ev {
				curves[e.EnvSteps] = append(curves[e.EnvSteps], e.Mean)
			}
			if u := updateSeconds(dir); u > 0 {
				upd = append(upd, u)
			}
		}
		if len(curves) == 0 {
			rows = append(rows, fmt.Sprintf("| %s | — | 0 of %d | not run yet | |", agent, len(o.seeds)))
			continue
		}
		cell := "—"
		if len(finals) > 0 {
			m, s := runner.MeanStd(finals)
			cell = fmt.Sprintf("%.0f ± %.0f", m, s)
		}
		ut := ""
		if len(upd) > 0 {
			m, _ := runner.MeanStd(upd)
			ut = fmt.Sprintf("%.3f s", m)
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %d of %d | %s | %s |", agent, cell, len(finals), len(o.seeds), strings.Join(progress, "; "), ut))
		xs := slices.Sorted(maps.Keys(curves))
		var ys []float64
		for _, x := range xs {
			m, _ := runner.MeanStd(curves[x])
			ys = append(ys, m)
		}
		fx := make([]float64, len(xs))
		for i, x := range xs {
			fx[i] = float64(x)
		}
		series = append(series, plot.Series{Name: agent, X: fx, Y: ys})
	}
	png := filepath.Join(docDir, o.env+".png")
	if len(series) > 0 {
		img, err := plot.LineChart{Title: o.env + ": evaluation return (mean over seeds, 10 episodes each)", XLabel: "environment steps", YLabel: "return", Series: series}.Render()
		if err != nil {
			return err
		}
		if err := plot.SavePNG(png, img); err != nil {
			return err
		}
	}
	table := fmt.Sprintf("Task %s, %d environment steps (agent steps × action repeat), seeds %v. Generated %s by `make bench-rl`.\n\n", o.env, o.steps, o.seeds, time.Now().UTC().Format("2006-01-02 15:04 UTC")) +
		"| agent | return at the budget (mean ± std over seeds) | seeds done | runs under way (last evaluation) | update time |\n|---|---|---|---|---|\n" +
		strings.Join(rows, "\n") + "\n\n" + fmt.Sprintf("![learning curves](%s)\n", filepath.Join(filepath.Base(docDir), o.env+".png"))
	return writeSection(o.doc, table)
}

const (
	beginMark = "<!-- bench-rl:begin (generated by make bench-rl; edit around it) -->"
	endMark   = "<!-- bench-rl:end -->"
)

// writeSection puts body between the page's markers (making the page
// when there is none).
func writeSection(path, body string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# RL benchmarks\n\n" + beginMark + "\n" + endMark + "\n")
	} else if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the markers %q … %q", path, beginMark, endMark)
	}
	s = s[:i+len(beginMark)] + "\n\n" + body + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func writeCSV(path string, ev []eval) error {
	var b strings.Builder
	b.WriteString("env_steps,mean_return,std_return\n")
	for _, e := range ev {
		fmt.Fprintf(&b, "%d,%.2f,%.2f\n", e.EnvSteps, e.Mean, e.Std)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
