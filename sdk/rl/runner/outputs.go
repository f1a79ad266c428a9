package runner

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/selfsup/selfsup/sdk/plot"
	"github.com/selfsup/selfsup/sdk/rl/sac"
)

// outputs writes a run's files into its folder: train.jsonl (a line per
// training episode and per 100 updates), eval.jsonl and eval.csv (every
// evaluation so far) and curve.png (the evaluation returns).
type outputs struct {
	dir   string
	train *os.File
}

func newOutputs(dir string) (*outputs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rl: output folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "train.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rl: %w", err)
	}
	return &outputs{dir: dir, train: f}, nil
}

func (o *outputs) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = o.train.Write(append(b, '\n'))
	return err
}

func (o *outputs) episode(envSteps, episode int64, ret float64) error {
	return o.line(map[string]any{"kind": "episode", "env_steps": envSteps, "episode": episode, "return": ret})
}

func (o *outputs) update(envSteps int64, st *sac.Stats, t timing) error {
	m := map[string]any{"kind": "update", "env_steps": envSteps, "updates": t.updates, "critic_loss": st.CriticLoss, "q": st.Q,
		"update_s": t.update / float64(t.updates), "sample_s": t.sample / float64(t.updates)}
	if st.AuxLoss != 0 {
		m["aux_loss"] = st.AuxLoss
	}
	if st.ActorUpdated {
		m["actor_loss"], m["alpha_loss"], m["alpha"], m["entropy"] = st.ActorLoss, st.AlphaLoss, st.Alpha, st.Entropy
	}
	return o.line(m)
}

// eval rewrites eval.jsonl, eval.csv and curve.png from all evaluations.
func (o *outputs) eval(c Config, evals []Eval) error {
	f, err := os.Create(filepath.Join(o.dir, "eval.jsonl"))
	if err != nil {
		return fmt.Errorf("rl: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, e := range evals {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	g, err := os.Create(filepath.Join(o.dir, "eval.csv"))
	if err != nil {
		return fmt.Errorf("rl: %w", err)
	}
	w := csv.NewWriter(g)
	w.Write([]string{"env_steps", "mean_return", "std_return", "episodes"})
	xs, ys, lo, hi := []float64{}, []float64{}, []float64{}, []float64{}
	for _, e := range evals {
		w.Write([]string{strconv.FormatInt(e.EnvSteps, 10), strconv.FormatFloat(e.Mean, 'f', 2, 64), strconv.FormatFloat(e.Std, 'f', 2, 64), strconv.Itoa(len(e.Returns))})
		xs, ys = append(xs, float64(e.EnvSteps)), append(ys, e.Mean)
		lo, hi = append(lo, e.Mean-e.Std), append(hi, e.Mean+e.Std)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		g.Close()
		return err
	}
	if err := g.Close(); err != nil {
		return err
	}
	img, err := plot.LineChart{
		Title:  fmt.Sprintf("%s: evaluation return (mean ± std of %d episodes)", c.Env, c.EvalEpisodes),
		XLabel: "environment steps", YLabel: "return",
		Series: []plot.Series{{Name: "mean", X: xs, Y: ys}, {Name: "mean − std", X: xs, Y: lo}, {Name: "mean + std", X: xs, Y: hi}},
	}.Render()
	if err != nil {
		return err
	}
	return plot.SavePNG(filepath.Join(o.dir, "curve.png"), img)
}

func (o *outputs) close() error { return o.train.Close() }

// truncate drops the train.jsonl lines of steps after envSteps (taken
// again by a resumed run).
func (o *outputs) truncate(envSteps int64) error {
	path := filepath.Join(o.dir, "train.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var keep []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		var v struct {
			EnvSteps int64 `json:"env_steps"`
		}
		if len(bytes.TrimSpace(l)) == 0 || json.Unmarshal(l, &v) != nil || v.EnvSteps > envSteps {
			continue
		}
		keep = append(keep, l...)
	}
	if err := o.train.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path, keep, 0o644); err != nil {
		return err
	}
	o.train, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	return err
}
