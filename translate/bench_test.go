package translate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/plugin"
)

// BenchmarkStep times one CUT / FastCUT iteration (Model.Step: G forward,
// D step, G step with PatchNCE) at the official defaults with
// resnet_6blocks, batch 1, on random images, PatchNCE in process and as a
// plugin; TRANSLATE_SIZES and TRANSLATE_THREADS pick the sizes (64,128) and
// libtorch thread counts (1,2). Compare with bench/translate/official_step.py
// on the same machine (bench/translate/step.sh runs both).
//
//	go test -run '^$' -bench Step -benchtime 10x ./translate/
func BenchmarkStep(b *testing.B) {
	runtime.LockOSThread()
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "selfsup-patchnce")
	if out, err := exec.Command("go", "build", "-o", bin, "../plugins/patchnce/cmd/selfsup-patchnce").CombinedOutput(); err != nil {
		b.Fatalf("build the plugin: %v\n%s", err, out)
	}
	sizes, threads := envInts("TRANSLATE_SIZES", 64, 128), envInts("TRANSLATE_THREADS", 1, 2)
	prev := backend.Threads()
	defer backend.SetThreads(prev)
	for _, mode := range []string{"cut", "fastcut"} {
		for _, size := range sizes {
			for _, th := range threads {
				for _, where := range []string{"plugin", "in-process"} {
					b.Run(fmt.Sprintf("%s/%d/threads=%d/%s", mode, size, th, where), func(b *testing.B) {
						backend.SetThreads(th)
						cfg := CUTConfig()
						if mode == "fastcut" {
							cfg = FastCUTConfig()
						}
						cfg.G.Blocks = 6
						var m method.Method = patchnce.New()
						if where == "plugin" {
							// the plugin's libtorch gets the same threads
							b.Setenv("OMP_NUM_THREADS", strconv.Itoa(th))
							var err error
							if m, err = plugin.Open(ctx, bin, plugin.Options{Method: patchnce.Name}); err != nil {
								b.Fatal(err)
							}
						}
						model, err := New(ctx, cfg, m, gotch.CPU, int64(size), 1000, 1)
						if err != nil {
							b.Fatal(err)
						}
						defer model.Close()
						rng := nn.NewRand(1)
						img := func() *ts.Tensor {
							x, err := nn.Uniform(rng, -1, 1, gotch.CPU, 1, 3, int64(size), int64(size))
							if err != nil {
								b.Fatal(err)
							}
							return x
						}
						step := func(i int64) {
							a, bb := img(), img()
							defer a.MustDrop()
							defer bb.MustDrop()
							if _, err := model.Step(ctx, a, bb, i); err != nil {
								b.Fatal(err)
							}
						}
						step(0)
						step(1) // warm-up
						b.ResetTimer()
						for i := range b.N {
							step(int64(i + 2))
						}
						b.StopTimer()
						b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/iter")
					})
				}
			}
		}
	}
}

func envInts(name string, def ...int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range splitComma(v) {
		n, err := strconv.Atoi(f)
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
