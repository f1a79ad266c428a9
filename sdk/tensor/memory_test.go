package tensor

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
)

// rssBytes reads the resident set size of this process.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("read /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("parse statm %q: %v", b, err)
	}
	return pages * int64(os.Getpagesize())
}

// TestLongRunMemoryFlat trains a small conv net on Fashion-MNIST for 2,000
// steps, freeing every tensor a step makes with a Scope, and checks that
// resident memory after warm-up stays within a fixed bound. The growth is
// measured in two windows of 850 steps after the warm-up, and the smaller
// one, doubled, is the measure: a leak grows both, while the C allocator
// settling (more arenas for libtorch's threads when other processes load
// the CPUs) mostly grows the first (as conformance.MemoryFlat does).
func TestLongRunMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long run: skipped with -short")
	}
	const (
		steps  = 2000
		warmup = 300
		batch  = 64
		bound  = 24 << 20 // bytes of growth allowed between warm-up and the end
	)
	backend.ManualSeed(0)
	ds, err := data.LoadFashionMNIST("", data.Train)
	if err != nil {
		t.Fatalf("Fashion-MNIST: %v", err)
	}
	vs := nn.NewVarStore(gotch.CPU)
	root := vs.Root()
	c1 := nn.NewConv2D(root.Sub("c1"), 1, 16, 3, &nn.Conv2DConfig{Stride: []int64{2, 2}, Padding: []int64{1, 1}, Dilation: []int64{1, 1}, Groups: 1, Bias: true, WsInit: nn.NewKaimingUniformInit(), BsInit: nn.NewConstInit(0)})
	c2 := nn.NewConv2D(root.Sub("c2"), 16, 32, 3, &nn.Conv2DConfig{Stride: []int64{2, 2}, Padding: []int64{1, 1}, Dilation: []int64{1, 1}, Groups: 1, Bias: true, WsInit: nn.NewKaimingUniformInit(), BsInit: nn.NewConstInit(0)})
	fc := nn.NewLinear(root.Sub("fc"), 32, 10, nn.DefaultLinearConfig())
	opt, err := nn.DefaultAdamConfig().Build(vs, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 0, batch*28*28)
	labels := make([]int, 0, batch)
	lab64 := make([]int64, batch)
	idx := make([]int, batch)
	mid := warmup + (steps-1-warmup)/2
	var rssWarm, rssMid, rssEnd int64
	var firstLoss, lastLoss float64
	for step := range steps {
		for i := range idx {
			idx[i] = (step*batch + i) % ds.Len()
		}
		pix, labels, err = ds.Batch(idx, pix[:0], labels[:0])
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range labels {
			lab64[i] = int64(l)
		}
		func() {
			s := NewScope()
			defer s.Close()
			x8 := s.T(must(FromUint8(pix, batch, 1, 28, 28)))
			x := s.T(x8.MustTotype(gotch.Float, false))
			x = s.T(x.MustDivScalar(ts.FloatScalar(255), false))
			y := s.T(must(FromInt64(lab64, batch)))
			h := s.T(c1.Forward(x))
			h = s.T(h.MustRelu(false))
			h = s.T(c2.Forward(h))
			h = s.T(h.MustRelu(false))
			h = s.T(h.MustMeanDim([]int64{2, 3}, false, gotch.Float, false))
			logits := s.T(fc.Forward(h))
			loss := s.T(logits.CrossEntropyForLogits(y))
			if err := opt.BackwardStep(loss); err != nil {
				t.Fatal(err)
			}
			v := loss.Float64Values()[0]
			if step < 20 {
				firstLoss += v / 20
			}
			if step >= steps-20 {
				lastLoss += v / 20
			}
		}()
		switch step {
		case warmup:
			rssWarm = rssBytes(t)
		case mid:
			rssMid = rssBytes(t)
		case steps - 1:
			rssEnd = rssBytes(t)
		}
	}
	growth := 2 * min(rssMid-rssWarm, rssEnd-rssMid)
	t.Logf("RSS after %d warm-up steps %.1f MiB, then %.1f and %.1f MiB after two windows of %d steps (growth measure %.2f MiB, bound %d MiB); loss %.3f -> %.3f",
		warmup, float64(rssWarm)/(1<<20), float64(rssMid)/(1<<20), float64(rssEnd)/(1<<20), mid-warmup, float64(growth)/(1<<20), bound>>20, firstLoss, lastLoss)
	if growth > bound {
		t.Errorf("resident memory grew by %.1f MiB over %d steps (bound %d MiB): a step leaks tensors", float64(growth)/(1<<20), steps-warmup, bound>>20)
	}
	if !(lastLoss < firstLoss*0.7) {
		t.Errorf("loss did not fall: %.3f -> %.3f", firstLoss, lastLoss)
	}
}

func must(x *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return x
}
