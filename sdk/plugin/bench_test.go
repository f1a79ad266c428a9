package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin/internal/testplugin"
)

// BenchmarkStep measures one training Step on 256×128 float32 features, in
// process and through the plugin (gRPC over AutoMTLS), with p50/p99 latency.
//
//	go test -run '^$' -bench Step -benchtime 2000x ./sdk/plugin
func BenchmarkStep(b *testing.B) {
	const n, d = 256, 128
	ctx := context.Background()
	setup := method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {d}}, Config: method.Params{"out": 128.0}, Seed: 1, Device: "cpu"}
	in := testplugin.New("toy")
	defer in.Close()
	if _, err := in.Setup(ctx, setup); err != nil {
		b.Fatal(err)
	}
	out, err := Open(ctx, "toy", Options{Dirs: []string{testBinDir}})
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	if _, err := out.Setup(ctx, setup); err != nil {
		b.Fatal(err)
	}
	x := features(&testing.T{}, n, d, gotch.Float, 0)
	defer x.MustDrop()
	for _, bc := range []struct {
		name string
		m    method.Method
	}{{"InProcess", in}, {"Plugin", out}} {
		b.Run(bc.name, func(b *testing.B) {
			req := method.StepRequest{Train: true, Features: method.Tensors{"v1/pooled": x}}
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(2 * n * d * 4) // features out, gradients back
			pid := 0
			if pm, ok := bc.m.(*Method); ok {
				pid = pm.proc.pid()
			}
			host0, plug0 := cpuTime(0), cpuTime(pid)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				resp, err := bc.m.Step(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Grads.Drop()
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			// CPU time per step, robust to a busy machine's scheduling delays.
			b.ReportMetric(float64((cpuTime(0)-host0).Microseconds())/float64(b.N), "host-cpu-µs/op")
			if pid != 0 {
				b.ReportMetric(float64((cpuTime(pid)-plug0).Microseconds())/float64(b.N), "plugin-cpu-µs/op")
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(q(0.5), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
		})
	}
}

// cpuTime is the user+system CPU time of this process (pid 0) or of pid,
// from /proc (0 where /proc is missing).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
