// Command rl is `make bench-rl`: it trains SAC agents (CURL, pixel SAC,
// state SAC, ...) on one task for a budget of environment steps with
// several seeds, each run through `selfsup-rl train --resume` in its own
// folder under runs/bench-rl, so a run stopped (by --budget, Ctrl-C or the
// end of a sitting) continues from its last checkpoint the next time on the
// same machine. After every run, and at the end, it writes each run's
// evaluations (docs/rl/runs/<env>-<agent>-s<seed>.csv, with its update time
// in a .json beside it), and from every record there — this invocation's
// runs and those committed by earlier sittings, whose checkpoints a fresh
// checkout no longer has — docs/rl.md's table (return at the budget, mean
// ± std over the seeds that reached it) and the learning curves
// (docs/rl/<env>.png), so results can be committed as they come.
//
// An agent is selfsup-rl's --agent, optionally with variants after colons:
// "curl:bf16" trains with --conv-precision bfloat16 (recorded as
// curl-bf16), "curl:method=byol" with --method byol (curl-byol).
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
	agents             []agent
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
	flag.StringVar(&agents, "agents", "state-sac,curl,pixel-sac", "agents (selfsup-rl train --agent, with :bf16 or :method=NAME variants), in the order they are run")
	flag.StringVar(&seeds, "seeds", "1,2", "seeds")
	flag.Int64Var(&o.steps, "env-steps", 100_000, "budget of every run in environment steps")
	flag.DurationVar(&o.budget, "budget", 0, "stop training after this long (0: until every run is done); the page is written either way")
	flag.BoolVar(&o.only, "report", false, "only write the page from the runs there are")
	flag.Parse()
	o.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	for _, a := range strings.Split(agents, ",") {
		v, err := parseAgent(a)
		if err != nil {
			o.log.Fatal().Err(err).Msg("--agents")
		}
		o.agents = append(o.agents, v)
	}
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

// agent is one agent of the benchmark: its record name and the train
// flags that make it.
type agent struct {
	name string
	args []string
}

// parseAgent reads "AGENT[:bf16][:method=NAME]".
func parseAgent(s string) (agent, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	a := agent{name: parts[0], args: []string{"--agent", parts[0]}}
	for _, v := range parts[1:] {
		switch {
		case v == "bf16":
			a.name += "-bf16"
			a.args = append(a.args, "--conv-precision", "bfloat16")
		case strings.HasPrefix(v, "method="):
			m := strings.TrimPrefix(v, "method=")
			a.name += "-" + m
			a.args = append(a.args, "--method", m)
		default:
			return a, fmt.Errorf("agent %q: unknown variant %q (want bf16 or method=NAME)", s, v)
		}
	}
	return a, nil
}

// name is a run's folder and record name.
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
					o.log.Error().Err(err).Str("agent", agent.name).Int("seed", seed).Msg("run failed; the page says so")
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
func (o options) train(ctx context.Context, agent agent, seed int) error {
	dir := filepath.Join(o.out, o.name(agent.name, seed))
	if done(dir, o.steps) {
		return nil
	}
	// a run an earlier sitting finished is in the record, its folder gone
	rec := filepath.Join(strings.TrimSuffix(o.doc, ".md"), "runs", o.name(agent.name, seed)+".csv")
	if ev, err := readCSV(rec); err == nil && len(ev) > 0 && ev[len(ev)-1].EnvSteps >= o.steps {
		o.log.Info().Str("run", o.name(agent.name, seed)).Msg("done in an earlier sitting (recorded)")
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
	args := append(append([]string{"train", "--env", o.env}, agent.args...), "--seed", strconv.Itoa(seed),
		"--env-steps", strconv.FormatInt(o.steps, 10), "--checkpoint-every", "10000", "--out", dir, "--resume")
	o.log.Info().Str("run", o.name(agent.name, seed)).Strs("args", args).Msg("training")
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
		o.log.Info().Str("run", o.name(agent.name, seed)).Msg("stopped; the next bench-rl resumes it")
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

// record is what docs/rl/runs keeps of a run besides its evaluations.
type record struct {
	UpdateSeconds float64 `json:"update_s"`
}

// save writes the runs of this invocation into the record folder.
func (o options) save(recDir string) error {
	for _, a := range o.agents {
		for _, seed := range o.seeds {
			dir := filepath.Join(o.out, o.name(a.name, seed))
			ev := readEvals(dir)
			if len(ev) == 0 {
				continue
			}
			base := filepath.Join(recDir, o.name(a.name, seed))
			if err := writeCSV(base+".csv", ev); err != nil {
				return err
			}
			b, err := json.Marshal(record{UpdateSeconds: updateSeconds(dir)})
			if err != nil {
				return err
			}
			if err := os.WriteFile(base+".json", append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// recorded lists the record folder's runs of the task: agent name → seed
// → evaluations and record.
func (o options) recorded(recDir string) (map[string]map[int]recordedRun, error) {
	files, err := filepath.Glob(filepath.Join(recDir, o.env+"-*-s*.csv"))
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]recordedRun{}
	for _, f := range files {
		stem := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), o.env+"-"), ".csv")
		k := strings.LastIndex(stem, "-s")
		seed, err := strconv.Atoi(stem[k+2:])
		if k < 0 || err != nil {
			continue
		}
		ev, err := readCSV(f)
		if err != nil {
			return nil, err
		}
		var rec record
		if b, err := os.ReadFile(strings.TrimSuffix(f, ".csv") + ".json"); err == nil {
			_ = json.Unmarshal(b, &rec)
		}
		if out[stem[:k]] == nil {
			out[stem[:k]] = map[int]recordedRun{}
		}
		out[stem[:k]][seed] = recordedRun{ev, rec}
	}
	return out, nil
}

type recordedRun struct {
	evals []eval
	rec   record
}

// report saves this invocation's runs and writes the page and the curves
// from every recorded run of the task.
func (o options) report() error {
	docDir := strings.TrimSuffix(o.doc, ".md")
	recDir := filepath.Join(docDir, "runs")
	if err := os.MkdirAll(recDir, 0o755); err != nil {
		return err
	}
	if err := o.save(recDir); err != nil {
		return err
	}
	runs, err := o.recorded(recDir)
	if err != nil {
		return err
	}
	// this invocation's agents first, in its order, then the others recorded
	var names []string
	for _, a := range o.agents {
		names = append(names, a.name)
	}
	for _, n := range slices.Sorted(maps.Keys(runs)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var rows []string
	var series []plot.Series
	for _, name := range names {
		seeds := runs[name]
		if len(seeds) == 0 {
			rows = append(rows, fmt.Sprintf("| %s | — | 0 | not run yet | |", name))
			continue
		}
		var finals, upd []float64
		var progress []string
		curves := map[int64][]float64{}
		for _, seed := range slices.Sorted(maps.Keys(seeds)) {
			r := seeds[seed]
			if len(r.evals) == 0 {
				continue
			}
			last := r.evals[len(r.evals)-1]
			if last.EnvSteps >= o.steps {
				finals = append(finals, last.Mean)
			} else {
				progress = append(progress, fmt.Sprintf("s%d at %dk: %.0f", seed, last.EnvSteps/1000, last.Mean))
			}
			for _, e := range r.evals {
				curves[e.EnvSteps] = append(curves[e.EnvSteps], e.Mean)
			}
			if r.rec.UpdateSeconds > 0 {
				upd = append(upd, r.rec.UpdateSeconds)
			}
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
		rows = append(rows, fmt.Sprintf("| %s | %s | %d | %s | %s |", name, cell, len(finals), strings.Join(progress, "; "), ut))
		xs := slices.Sorted(maps.Keys(curves))
		var fx, ys []float64
		for _, x := range xs {
			m, _ := runner.MeanStd(curves[x])
			fx, ys = append(fx, float64(x)), append(ys, m)
		}
		series = append(series, plot.Series{Name: name, X: fx, Y: ys})
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
	table := fmt.Sprintf("Task %s, %d environment steps (agent steps × action repeat). Generated %s by `make bench-rl` from the runs recorded in %s.\n\n", o.env, o.steps, time.Now().UTC().Format("2006-01-02 15:04 UTC"), filepath.Join(filepath.Base(docDir), "runs")) +
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

func readCSV(path string) ([]eval, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []eval
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			continue // header
		}
		var e eval
		if _, err := fmt.Sscanf(line, "%d,%g,%g", &e.EnvSteps, &e.Mean, &e.Std); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
