package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/envs"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/safetensors"
)

// A checkpoint is a folder: agent.safetensors (networks and optimizer
// state), replay.bin (the replay buffer), method.bin (the auxiliary
// method's Save) and state.json (the loop's counters and generators).
// The runner takes one at the first episode boundary after every
// CheckpointEvery environment steps and at the end; environments are
// reset with seeds drawn from the episode count, so a run resumed from a
// checkpoint takes exactly the steps the uninterrupted run takes.

// runState is state.json.
type runState struct {
	Run      string     `json:"run"` // Config.String(), checked on resume
	Config   Config     `json:"config"`
	AgentCfg sac.Config `json:"agent_config"`
	Step     int64      `json:"agent_steps"`
	Episodes int64      `json:"episodes"`
	Last     float64    `json:"last_return"`
	RNG      []byte     `json:"rng"`
	Evals    []Eval     `json:"evals"`
	Agent    sac.State  `json:"agent"`
	AuxSteps int64      `json:"aux_steps"`
	Aux      string     `json:"aux,omitempty"`
}

// checkpointDir is where the run keeps its checkpoint.
func (r *Runner) checkpointDir() string { return filepath.Join(r.out.dir, "checkpoint") }

// checkpoint writes the run's state; it must be called between episodes.
func (r *Runner) checkpoint(ctx context.Context) error {
	if !r.done {
		return fmt.Errorf("rl: checkpoint in the middle of an episode")
	}
	dir := r.checkpointDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rl: checkpoint: %w", err)
	}
	tensors, ast, release, err := r.agent.Save()
	if err != nil {
		return err
	}
	defer release()
	rng, err := r.rngSrc.MarshalBinary()
	if err != nil {
		return err
	}
	st := runState{Run: r.cfg.String(), Config: r.cfg, AgentCfg: r.agent.Config(), Step: r.step, Episodes: r.episodes, Last: r.last, RNG: rng, Evals: r.evals, Agent: ast}
	var method []byte
	if r.aux != nil {
		if method, err = r.aux.m.Save(ctx); err != nil {
			return fmt.Errorf("rl: save %s: %w", r.aux.name, err)
		}
		st.AuxSteps, st.Aux = r.aux.steps, r.aux.name
	}
	// state.json last: a checkpoint is complete when its state says so
	write := func(name string, f func(w io.Writer) error) error {
		return safetensors.WriteFileAtomic(filepath.Join(dir, name), f)
	}
	if err := write("agent.safetensors", func(w io.Writer) error { return safetensors.Write(w, tensors, nil) }); err != nil {
		return fmt.Errorf("rl: checkpoint: %w", err)
	}
	if err := write("replay.bin", func(w io.Writer) error { _, err := r.buf.WriteTo(w); return err }); err != nil {
		return fmt.Errorf("rl: checkpoint: %w", err)
	}
	if err := write("method.bin", func(w io.Writer) error { _, err := w.Write(method); return err }); err != nil {
		return fmt.Errorf("rl: checkpoint: %w", err)
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := write("state.json", func(w io.Writer) error { _, err := w.Write(js); return err }); err != nil {
		return fmt.Errorf("rl: checkpoint: %w", err)
	}
	r.log.Debug().Int64("env_steps", r.EnvSteps()).Str("dir", dir).Msg("checkpoint")
	return nil
}

// HasCheckpoint reports whether the run's folder holds a checkpoint.
func (r *Runner) HasCheckpoint() bool {
	if r.out == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(r.checkpointDir(), "state.json"))
	return err == nil
}

// Resume restores the run's checkpoint; the next Run goes on from it.
func (r *Runner) Resume(ctx context.Context) error {
	if r.out == nil {
		return fmt.Errorf("rl: resume needs the run's output folder")
	}
	dir := r.checkpointDir()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return fmt.Errorf("rl: resume: %w (no checkpoint: start the run without --resume)", err)
	}
	var st runState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("rl: resume: state.json: %w", err)
	}
	if st.Run != r.cfg.String() {
		return fmt.Errorf("rl: the checkpoint is of the run %q, this one is %q: resume with the same settings or use another --out", st.Run, r.cfg.String())
	}
	aux := ""
	if r.aux != nil {
		aux = r.aux.name
	}
	if st.Aux != aux {
		return fmt.Errorf("rl: the checkpoint's auxiliary method is %q, this run's %q: resume with the same --method", st.Aux, aux)
	}
	tensors, _, err := safetensors.ReadFile(filepath.Join(dir, "agent.safetensors"))
	if err != nil {
		return fmt.Errorf("rl: resume: %w", err)
	}
	defer func() {
		for _, t := range tensors {
			t.MustDrop()
		}
	}()
	if err := r.agent.Load(toDevice(tensors, r.dev), st.Agent); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(dir, "replay.bin"))
	if err != nil {
		return fmt.Errorf("rl: resume: %w", err)
	}
	_, err = r.buf.ReadFrom(f)
	f.Close()
	if err != nil {
		return err
	}
	if r.aux != nil {
		m, err := os.ReadFile(filepath.Join(dir, "method.bin"))
		if err != nil {
			return fmt.Errorf("rl: resume: %w", err)
		}
		if err := r.aux.m.Load(ctx, m); err != nil {
			return fmt.Errorf("rl: resume %s: %w", r.aux.name, err)
		}
		r.aux.steps = st.AuxSteps
	}
	if err := r.rngSrc.UnmarshalBinary(st.RNG); err != nil {
		return err
	}
	r.step, r.episodes, r.last, r.evals, r.done = st.Step, st.Episodes, st.Last, st.Evals, true
	if err := r.out.truncate(r.EnvSteps()); err != nil {
		return fmt.Errorf("rl: resume: train.jsonl: %w", err)
	}
	r.log.Info().Int64("env_steps", r.EnvSteps()).Int("evaluations", len(r.evals)).Msg("resumed")
	return nil
}

// toDevice puts the read tensors on dev (in place in the map, dropping
// the CPU copies).
func toDevice(m map[string]*ts.Tensor, dev gotch.Device) map[string]*ts.Tensor {
	if dev.IsCuda() {
		for k, t := range m {
			m[k] = t.MustTo(dev, true)
		}
	}
	return m
}

// Policy is the trained actor of a run's checkpoint, for evaluation and
// watching.
type Policy struct {
	Config   Config
	Agent    *sac.Agent
	EnvSteps int64
	dev      gotch.Device
}

// LoadPolicy reads the agent of the checkpoint in the run folder dir.
func LoadPolicy(dir string, dev gotch.Device) (*Policy, error) {
	ck := filepath.Join(dir, "checkpoint")
	b, err := os.ReadFile(filepath.Join(ck, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("rl: %w (give the folder of a run that wrote a checkpoint: selfsup-rl train --out DIR)", err)
	}
	var st runState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("rl: %s: %w", filepath.Join(ck, "state.json"), err)
	}
	a, err := sac.New(st.AgentCfg, dev)
	if err != nil {
		return nil, err
	}
	tensors, _, err := safetensors.ReadFile(filepath.Join(ck, "agent.safetensors"))
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("rl: %w", err)
	}
	defer func() {
		for _, t := range tensors {
			t.MustDrop()
		}
	}()
	if err := a.LoadWeights(toDevice(tensors, dev)); err != nil {
		a.Close()
		return nil, err
	}
	return &Policy{Config: st.Config, Agent: a, EnvSteps: st.Step * int64(st.Config.repeat()), dev: dev}, nil
}

// Env makes the environment as the run saw it.
func (p *Policy) Env() (envs.Env, error) { return p.Config.makeEnv() }

// Act returns the deterministic action for an observation of Env.
func (p *Policy) Act(o envs.Obs) ([]float64, error) {
	x, err := p.Config.obsTensor(o, p.dev)
	if err != nil {
		return nil, err
	}
	defer x.MustDrop()
	return p.Agent.Act(x, true)
}

// Evaluate runs episodes episodes of the policy (see Evaluate).
func (p *Policy) Evaluate(episodes int, gif string) (Eval, error) {
	ev, err := Evaluate(p.Config, p.Agent, p.dev, episodes, gif)
	ev.EnvSteps = p.EnvSteps
	return ev, err
}

// Close frees the agent.
func (p *Policy) Close() { p.Agent.Close() }
