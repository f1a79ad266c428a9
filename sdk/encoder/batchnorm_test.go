package encoder

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestBatchNormModes(t *testing.T) {
	backend.ManualSeed(3)
	enc := newEnc(t, ConvNetS, 1)
	x := wave(t, 6, 1, 28, 28)
	defer x.MustDrop()
	first := x.MustNarrow(0, 0, 2, false) // a sub-batch: rows 0-1
	defer first.MustDrop()
	vs := enc.VarStore()
	count := func() int64 {
		v := vs.Variables()["1.num_batches_tracked"]
		n, err := tensor.Int64s(&v)
		if err != nil {
			t.Fatal(err)
		}
		return n[0]
	}

	// Eval mode: running statistics, so a sample's features do not depend
	// on the rest of the batch and nothing is updated.
	rm := values(t, vs, "1.running_mean")
	full := pooled(t, enc, x, false)
	part := pooled(t, enc, first, false)
	if d := maxAbsDiff(full[:2*128], part); d > 1e-5 {
		t.Errorf("eval: features depend on the batch (%g)", d)
	}
	if got := values(t, vs, "1.running_mean"); maxAbsDiff(got, rm) != 0 || count() != 0 {
		t.Error("eval forward changed the running statistics or the count")
	}

	// Train mode: batch statistics (features depend on the batch), running
	// mean moves by momentum 0.1 toward the batch mean, the count goes up.
	full = pooled(t, enc, x, true)
	if count() != 1 {
		t.Errorf("num_batches_tracked = %d after one train forward", count())
	}
	part = pooled(t, enc, first, true)
	if d := maxAbsDiff(full[:2*128], part); d < 1e-3 {
		t.Errorf("train: features do not depend on the batch (%g)", d)
	}
	// running_mean after two train batches from 0: 0.1·(0.9·m1 + m2) where
	// m is conv0's per-channel mean over the batch.
	w := vs.Variables()["0.weight"]
	chanMean := func(in *ts.Tensor) []float32 {
		h := ts.MustConv2d(in, &w, ts.None, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, 1)
		m := h.MustMeanDim([]int64{0, 2, 3}, false, gotch.Float, true)
		defer m.MustDrop()
		v, _ := tensor.Float32s(m)
		return v
	}
	m1, m2 := chanMean(x), chanMean(first)
	got := values(t, vs, "1.running_mean")
	for i := range got {
		want := 0.1 * (0.9*float64(m1[i]) + float64(m2[i]))
		if math.Abs(float64(got[i])-want) > 1e-5 {
			t.Fatalf("running_mean[%d] = %v, want %v", i, got[i], want)
		}
	}
}

// statmRSS reads the resident set size from /proc/self/statm, after
// returning the Go heap's garbage to the OS (gotch puts a 100 KB Go
// allocation behind every tensor handle, so the Go heap swings by tens of
// MiB between collections; that is not libtorch memory).
func statmRSS(t testing.TB) int64 {
	t.Helper()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm (not Linux?): %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("parse statm %q: %v", b, err)
	}
	return pages * int64(os.Getpagesize())
}

// TestMemoryFlat runs 300 forward/backward/SGD steps of convnet-s (batch 64,
// two taps asked for each step) and checks that no gotch tensor handle
// outlives its step and that resident memory grows by less than 24 MiB
// between step 50 and step 300 (measured: under 1 MiB on a quiet machine,
// up to 16 MiB when other processes load both cores and libtorch's worker
// threads spread over more malloc arenas; one leaked block1 activation a
// step alone would add 1.6 GiB).
//
// The loop runs on one locked OS thread, as a host's training loop should:
// libtorch's grad mode and OpenMP thread count are per OS thread, and
// glibc gives each OS thread that calls into libtorch its own malloc arena,
// so a goroutine that wanders between threads leaves freed activations in
// several arenas (measured here: RSS swinging by ±40 MiB around a level
// 100 MiB higher, without a trend).
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("300 training steps: skipped with -short")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const (
		steps  = 300
		warmup = 50
		bound  = 24 << 20
	)
	backend.ManualSeed(4)
	enc := newEnc(t, ConvNetS, 1)
	x := wave(t, 64, 1, 28, 28)
	defer x.MustDrop()
	var base int64
	var live int
	start := time.Now()
	for i := range steps {
		out, err := enc.Forward(x, true, "block2", "block4")
		if err != nil {
			t.Fatal(err)
		}
		a := out[Pooled].MustSquare(false)
		b := out["block4"].MustMean(gotch.Float, false)
		l := a.MustMean(gotch.Float, true)
		loss := l.MustAdd(b, true)
		b.MustDrop()
		out.Drop()
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
		if err := applySGD(enc, 1e-3); err != nil {
			t.Fatal(err)
		}
		if i == warmup {
			base = statmRSS(t)
			live = len(ts.ExistingTensors)
		}
	}
	end := statmRSS(t)
	if n := len(ts.ExistingTensors); n != live {
		t.Errorf("%d live gotch tensors after %d steps, %d after warm-up: a step leaks handles", n, steps, live)
	}
	t.Logf("RSS %d MiB after warm-up, %d MiB after %d steps (%+d KiB), %.0f ms/step",
		base>>20, end>>20, steps, (end-base)>>10, float64(time.Since(start).Milliseconds())/steps)
	if end-base > bound {
		t.Errorf("RSS grew by %d MiB over %d steps, bound %d MiB", (end-base)>>20, steps-warmup, bound>>20)
	}
}

// BenchmarkConvNetSStep is one training step of the trunk as the SimCLR
// reference runs it: batch 256, two views (512 images of 1x28x28), forward
// in train mode, a scalar loss on the pooled features, backward. Run it
// with OMP_WAIT_POLICY=PASSIVE (sdk/backend/env.sh sets it), as the PyTorch
// peer testdata/bench_convnet_s.py is:
//
//	go test -run XXX -bench ConvNetSStep -benchtime 20x ./sdk/encoder
//	/usr/bin/python3 sdk/encoder/testdata/bench_convnet_s.py 2 20
//
// libtorch runs on SELFSUP_BENCH_THREADS threads (default: one per CPU, as
// the reference's setup(2) on a 2-core machine; libtorch's own default here
// is the physical core count, 1). OpenMP's thread count is a per-OS-thread
// setting, so the benchmark pins its goroutine to one OS thread first. It
// reports medians (fwd-ms, bwd-ms, step-ms) beside the mean ns/op.
func BenchmarkConvNetSStep(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threads := runtime.NumCPU()
	if v, err := strconv.Atoi(os.Getenv("SELFSUP_BENCH_THREADS")); err == nil && v > 0 {
		threads = v
	}
	prev := backend.Threads()
	backend.SetThreads(threads)
	defer backend.SetThreads(prev)
	backend.ManualSeed(0)
	b.Logf("libtorch threads: %d, OMP_WAIT_POLICY=%q", backend.Threads(), os.Getenv("OMP_WAIT_POLICY"))
	enc := newEnc(b, ConvNetS, 1)
	x := wave(b, 512, 1, 28, 28)
	defer x.MustDrop()
	var fwd, bwd, step []float64
	for b.Loop() {
		t0 := time.Now()
		out, err := enc.Forward(x, true)
		if err != nil {
			b.Fatal(err)
		}
		loss := out[Pooled].MustSquare(false).MustMean(gotch.Float, true)
		out.Drop()
		t1 := time.Now()
		if err := loss.Backward(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		loss.MustDrop()
		if err := applySGD(enc, 0); err != nil {
			b.Fatal(err)
		}
		fwd = append(fwd, ms(t1.Sub(t0)))
		bwd = append(bwd, ms(t2.Sub(t1)))
		step = append(step, ms(time.Since(t0)))
	}
	b.ReportMetric(median(fwd), "fwd-ms")
	b.ReportMetric(median(bwd), "bwd-ms")
	b.ReportMetric(median(step), "step-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
