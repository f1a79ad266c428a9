package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/envs/wrap"
	"github.com/selfsup/selfsup/sdk/rl/sac"
)

// Evaluate runs episodes episodes of agent's deterministic policy (the
// squashed mean, on centre-cropped observations) on a fresh environment of
// the run cfg, episode i seeded from cfg.Seed and i alone, so evaluations
// compare across agents and survive a resume. With gif set it records the
// first episode there (rendered at 200×200).
func Evaluate(cfg Config, agent *sac.Agent, dev gotch.Device, episodes int, gif string) (Eval, error) {
	t0 := time.Now()
	env, err := cfg.makeEnv()
	if err != nil {
		return Eval{}, err
	}
	var rec *wrap.GIFRecorder
	if gif != "" {
		if err := os.MkdirAll(filepath.Dir(gif), 0o755); err != nil {
			env.Close()
			return Eval{}, fmt.Errorf("rl: gif folder: %w", err)
		}
		if rec, err = wrap.RecordGIF(env, wrap.GIFOptions{Path: gif, Width: 200, Height: 200, Every: max(episodes, 1)}); err != nil {
			env.Close()
			return Eval{}, err
		}
		env = rec
	}
	defer env.Close()
	var ev Eval
	for i := range episodes {
		seed := int64(cfg.Seed)<<20 + 1<<19 + int64(i)
		obs, _ := env.Reset(&seed)
		ret := 0.0
		for {
			x, err := cfg.obsTensor(obs, dev)
			if err != nil {
				return ev, err
			}
			a, err := agent.Act(x, true)
			x.MustDrop()
			if err != nil {
				return ev, err
			}
			var rew float64
			var term, trunc bool
			obs, rew, term, trunc, _ = env.Step(a)
			ret += rew
			if term || trunc {
				break
			}
		}
		ev.Returns = append(ev.Returns, ret)
	}
	if rec != nil {
		if err := rec.Err(); err != nil {
			return ev, fmt.Errorf("rl: evaluation gif: %w", err)
		}
	}
	ev.Mean, ev.Std = MeanStd(ev.Returns)
	ev.Seconds = time.Since(t0).Seconds()
	return ev, nil
}
