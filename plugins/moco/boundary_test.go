package moco_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestCURLGradientsMeetInTrunk is the RL runner's use of the boundary: the
// encoder's gradient mixes a critic-like loss computed in the host with the
// gradient the curl method returns for the anchor features. Done with the
// method out of process and in process, the trunk gradients must equal those
// of the same step done in one autograd graph in the host (critic loss +
// CURL's bilinear InfoNCE with the method's initial W): in process to 1e-6,
// across processes to float32 rounding (see below).
func TestCURLGradientsMeetInTrunk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin")
	}
	runtime.LockOSThread()
	// Both processes must sum in the same order for the comparison to ask
	// for 1e-6: libtorch's threads as plugin.Serve sets them
	// (ConfigureThreads(0)), and OpenBLAS's, which the host starts a
	// plugin with at 1 unless its environment says otherwise: give the
	// plugin this process's count (OpenBLAS reads OPENBLAS_NUM_THREADS,
	// then OMP_NUM_THREADS, else takes every CPU).
	prev := backend.Threads()
	backend.ConfigureThreads(0)
	defer backend.SetThreads(prev)
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		n := os.Getenv("OMP_NUM_THREADS")
		if n == "" {
			n = strconv.Itoa(runtime.NumCPU())
		}
		t.Setenv("OPENBLAS_NUM_THREADS", n)
	}
	ctx := context.Background()
	const seed, batch = 7, 32

	ds, err := data.LoadFashionMNIST("", data.Train)
	if err != nil {
		t.Fatal(err)
	}
	pix, _, err := ds.Batch(seqIndices(batch), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := tensor.NewScope()
	defer s.Close()
	x8 := s.T(must(tensor.FromUint8(pix, batch, 1, 28, 28)))
	anchor := s.T(s.T(x8.MustTotype(gotch.Float, false)).MustDivScalar(ts.FloatScalar(255), false))
	positive := s.T(anchor.MustFlip([]int64{3}, false)) // a second view of the same images

	backend.ManualSeed(5)
	trunk, err := encoder.New("convnet-s", 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	target, err := trunk.Copy()
	if err != nil {
		t.Fatal(err)
	}
	var fp *ts.Tensor
	tensor.NoGrad(func() {
		out, err := target.Forward(positive, true)
		if err != nil {
			t.Fatal(err)
		}
		fp = s.T(out[encoder.Pooled])
	})
	dim := trunk.Dim()
	wq := s.T(must(nn.Uniform(nn.NewRand(99), -1, 1, gotch.CPU, dim, 1))) // the "critic"
	critic := func(fa *ts.Tensor) *ts.Tensor {                            // mean((f·w_q − 1)²)
		q := s.T(fa.MustMm(wq, false))
		d := s.T(q.MustSubScalar(ts.FloatScalar(1), false))
		return s.T(s.T(d.MustSquare(false)).MustMean(gotch.Float, false))
	}
	params := optim.Params(trunk.VarStore())
	trunkGrads := func() [][]float32 {
		var out [][]float32
		for _, p := range params {
			g := p.T.MustGrad(false)
			v, err := tensor.Float32s(g)
			g.MustDrop()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := backend.ZeroGrad(optim.Tensors(params)); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// The step across the boundary, as a host does it.
	viaMethod := func(m method.Method) [][]float32 {
		defer m.Close()
		if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {dim}}, Device: "cpu", Seed: seed, TotalSteps: 10}); err != nil {
			t.Fatal(err)
		}
		out, err := trunk.Forward(anchor, true)
		if err != nil {
			t.Fatal(err)
		}
		fa := s.T(out[encoder.Pooled])
		resp, err := m.Step(ctx, method.StepRequest{Train: true, Features: method.Tensors{
			method.FeatureKey("anchor", "pooled", false):  s.T(fa.MustDetach(false)),
			method.FeatureKey("positive", "pooled", true): fp,
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Grads.Drop()
		g := resp.Grads[method.FeatureKey("anchor", "pooled", false)]
		total := s.T(critic(fa).MustAdd(s.T(s.T(fa.MustMul(g, false)).MustSum(gotch.Float, false)), false))
		if err := total.Backward(); err != nil {
			t.Fatal(err)
		}
		return trunkGrads()
	}

	// The same step in one graph in the host.
	w0 := s.T(must(nn.Uniform(nn.NewRand(seed), 0, 1, gotch.CPU, dim, dim))) // curl's W after Setup
	out, err := trunk.Forward(anchor, true)
	if err != nil {
		t.Fatal(err)
	}
	fa := s.T(out[encoder.Pooled])
	whole := s.T(critic(fa).MustAdd(s.T(moco.BilinearLoss(fa, fp, w0)), false))
	if err := whole.Backward(); err != nil {
		t.Fatal(err)
	}
	want := trunkGrads()
	scale := 0.0
	for _, g := range want {
		for _, v := range g {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
	}
	if scale == 0 {
		t.Fatal("the one-graph step gave the trunk no gradient")
	}
	// The plugin computes d loss / d features in its own process, whose
	// BLAS and libtorch threads may split a sum differently from this one's
	// (a fresh 2-core CI clone measured 2.6e-5 at a largest gradient of
	// 14.5; here it is 0). Float32 sums of K terms in another order differ
	// by about u·√K of their scale (u = 2⁻²⁴); a trunk gradient sums over
	// K = batch·28·28 positions, so across processes the bound is
	// u·√K·scale (1.4e-4 here). A wrong gradient at the boundary (the CURL
	// term lost, doubled or mis-scaled) moves the trunk's gradients by the
	// CURL term's own size, checked below to be far above that bound.
	crossTol := math.Pow(2, -24) * math.Sqrt(batch*28*28) * scale
	out, err = trunk.Forward(anchor, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := critic(s.T(out[encoder.Pooled])).Backward(); err != nil {
		t.Fatal(err)
	}
	criticOnly := trunkGrads()
	curlPart := 0.0
	for i := range want {
		for j := range want[i] {
			curlPart = math.Max(curlPart, math.Abs(float64(want[i][j]-criticOnly[i][j])))
		}
	}
	if curlPart < 100*crossTol {
		t.Fatalf("the CURL term moves the trunk gradients by only %.3g, too little for the tolerance %.3g to catch a wrong gradient", curlPart, crossTol)
	}

	bin := filepath.Join(t.TempDir(), "selfsup-moco")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/selfsup-moco")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	remote, err := plugin.Open(ctx, bin, plugin.Options{Method: "curl"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    method.Method
		tol  float64
	}{
		{"in process", moco.NewCURL(), 1e-6},
		{"plugin", remote, crossTol},
	} {
		got := viaMethod(c.m)
		worst := 0.0
		for i := range want {
			for j := range want[i] {
				worst = math.Max(worst, math.Abs(float64(got[i][j]-want[i][j])))
			}
		}
		t.Logf("%s: worst trunk-gradient difference from the one-graph step %.3g (largest gradient %.3g, CURL's part up to %.3g)", c.name, worst, scale, curlPart)
		if worst > c.tol {
			t.Errorf("%s: trunk gradients differ from the one-graph step by up to %.3g (want <= %.3g)", c.name, worst, c.tol)
		}
	}
}

func seqIndices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func must(x *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return x
}
