package runner

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/rl/sac"
)

// BenchmarkUpdate times one update of the paper's configuration (batch
// 128, 3 stacked RGB frames cropped 100→84, replay sampling and crops
// included) after 1,000 random steps on cartpole-swingup: pixel SAC, CURL
// with the method in process, CURL with the method as a plugin. Compare
// with the official CurlSacAgent.update run by bench/rl/official_update.py
// on the same machine (make bench).
//
//	go test -run '^$' -bench Update -benchtime 20x ./sdk/rl/runner/
func BenchmarkUpdate(b *testing.B) {
	runtime.LockOSThread()
	backend.ConfigureThreads(0)
	if err := backend.HoldFreedMemory(); err != nil { // as selfsup-rl does
		b.Fatal(err)
	}
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "selfsup-moco")
	inProcess := func() (method.Method, error) { return moco.NewCURL(), nil }
	asPlugin := func() (method.Method, error) {
		if out, err := exec.Command("go", "build", "-o", bin, "../../../plugins/moco/cmd/selfsup-moco").CombinedOutput(); err != nil {
			b.Fatalf("build the plugin: %v\n%s", err, out)
		}
		return plugin.Open(ctx, bin, plugin.Options{Method: "curl"})
	}
	for _, c := range []struct {
		name      string
		aux       func() (method.Method, error)
		precision string
	}{
		{"pixel-sac", nil, sac.Float32},
		{"curl-in-process", inProcess, sac.Float32},
		{"curl-plugin", asPlugin, sac.Float32},
		{"pixel-sac-bf16", nil, sac.BFloat16},
		{"curl-plugin-bf16", asPlugin, sac.BFloat16},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cfg := Default("cartpole-swingup")
			cfg.EvalEvery, cfg.CheckpointEvery = 0, 0
			cfg.Agent = func(a *sac.Config) { a.ConvPrecision = c.precision }
			o := Options{Device: gotch.CPU, Log: zerolog.Nop()}
			if c.aux != nil {
				m, err := c.aux()
				if err != nil {
					b.Fatal(err)
				}
				o.Aux = m
			}
			r, err := New(ctx, cfg, o)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			r.ctx = ctx
			for r.step < cfg.SeedSteps {
				if _, err := r.train(); err != nil {
					b.Fatal(err)
				}
			}
			// the step count sets the actor's and the target's period (every 2)
			for range 2 { // warm-up
				if _, err := r.update(); err != nil {
					b.Fatal(err)
				}
				r.step++
			}
			b.ResetTimer()
			for range b.N {
				if _, err := r.update(); err != nil {
					b.Fatal(err)
				}
				r.step++
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/update")
		})
	}
}
