package runner

import (
	"context"
	"runtime"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/rl/sac"
)

// TestStateSACLearnsCartpoleBalance: SAC on cartpole-balance's state
// vector (networks of 256 units, to keep the test short) lifts its
// deterministic evaluation return well above the untrained policy's
// within 24,000 environment steps (3,000 agent steps at action repeat 8).
func TestStateSACLearnsCartpoleBalance(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an agent for 2,500 updates: skipped with -short")
	}
	runtime.LockOSThread()
	cfg := Default("cartpole-balance")
	cfg.Pixels = false
	cfg.EnvSteps, cfg.SeedSteps, cfg.EvalEvery, cfg.EvalEpisodes, cfg.Seed = 24_000, 500, 0, 5, 3
	cfg.Agent = func(c *sac.Config) { c.Hidden = 256 }
	r, err := New(context.Background(), cfg, Options{Device: gotch.CPU, Out: t.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.evaluate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ev := r.Evals()
	first, last := ev[0], ev[len(ev)-1]
	t.Logf("return %.1f ± %.1f -> %.1f ± %.1f after %d env steps (%.1f ms per update)", first.Mean, first.Std, last.Mean, last.Std, last.EnvSteps, 1000*r.timing.update/float64(r.timing.updates))
	if last.EnvSteps != 24_000 {
		t.Errorf("last evaluation at %d env steps, want 24000", last.EnvSteps)
	}
	if !(last.Mean > first.Mean+200) || !(last.Mean > 600) {
		t.Errorf("return %.1f -> %.1f: want a gain of 200 and more than 600 of the 1000 possible", first.Mean, last.Mean)
	}
}
