package runner

import (
	"bytes"
	"context"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/tensor"
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

// TestResumeIsExact: a run stopped in the middle of an episode and
// resumed from its last checkpoint ends with the same weights, optimizer
// state, evaluations and replay sampling as the run that never stopped:
// state SAC, and CURL on pixels (the method's W and Adam in the
// checkpoint too).
func TestResumeIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four small agents: skipped with -short")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		pixels bool
	}{{"state SAC", false}, {"CURL", true}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default("cartpole-balance")
			cfg.Pixels, cfg.RenderSize, cfg.ImageSize = c.pixels, 40, 32
			cfg.EnvSteps, cfg.SeedSteps, cfg.Batch, cfg.EvalEvery, cfg.EvalEpisodes, cfg.Seed = 8*300, 50, 8, 8*100, 1, 4
			cfg.CheckpointEvery = 8 * 130 // the episode boundary at agent step 250
			cfg.Agent = func(c *sac.Config) { c.Hidden, c.Filters, c.Layers = 16, 8, 2 }
			open := func(out string) *Runner {
				o := Options{Device: gotch.CPU, Out: out, Log: zerolog.Nop()}
				if c.pixels {
					o.Aux = moco.NewCURL()
				}
				r, err := New(ctx, cfg, o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(r.Close)
				return r
			}
			whole := open(t.TempDir())
			if err := whole.Run(ctx, nil); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			first := open(dir)
			first.stopAt = 280 // mid-episode: steps 250…279 are lost and taken again
			if err := first.Run(ctx, nil); err != nil {
				t.Fatal(err)
			}
			resumed := open(dir)
			if err := resumed.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			if resumed.step != 250 {
				t.Fatalf("resumed at agent step %d, want the checkpoint at 250", resumed.step)
			}
			if err := resumed.Run(ctx, nil); err != nil {
				t.Fatal(err)
			}
			want, _, relW, err := whole.agent.Save()
			if err != nil {
				t.Fatal(err)
			}
			defer relW()
			got, _, relG, err := resumed.agent.Save()
			if err != nil {
				t.Fatal(err)
			}
			defer relG()
			for k, w := range want {
				if !slices.Equal(vals(t, got[k]), vals(t, w)) {
					t.Fatalf("%s differs between the resumed run and the whole one", k)
				}
			}
			if !reflect.DeepEqual(clearSeconds(resumed.Evals()), clearSeconds(whole.Evals())) {
				t.Errorf("evaluations differ: resumed %+v, whole %+v", resumed.Evals(), whole.Evals())
			}
			if c.pixels {
				a, err := whole.aux.m.Save(ctx)
				if err != nil {
					t.Fatal(err)
				}
				b, err := resumed.aux.m.Save(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Error("the CURL method's state differs between the resumed run and the whole one")
				}
			}
		})
	}
}

func clearSeconds(ev []Eval) []Eval {
	out := slices.Clone(ev)
	for i := range out {
		out[i].Seconds = 0
	}
	return out
}

func vals(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMemoryFlat: a long CURL run on pixels (the method in process, the
// replay buffer full so that it sheds frames as fast as it stores them)
// holds its resident memory flat: every step frees the tensors it makes.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("900 training steps: skipped with -short")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	cfg := Default("cartpole-swingup")
	cfg.RenderSize, cfg.ImageSize, cfg.Capacity = 40, 32, 200
	cfg.EnvSteps, cfg.SeedSteps, cfg.Batch, cfg.EvalEvery, cfg.CheckpointEvery = 8*10_000, 20, 16, 0, 0
	cfg.Agent = func(c *sac.Config) { c.Hidden, c.Filters, c.Layers = 32, 8, 2 }
	r, err := New(ctx, cfg, Options{Device: gotch.CPU, Log: zerolog.Nop(), Aux: moco.NewCURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.ctx = ctx
	conformance.MemoryFlat(t, 300, 600, 24<<20, func(int64) {
		if _, err := r.train(); err != nil {
			t.Fatal(err)
		}
	})
}
