package runner

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// pixelAgent is a small pixel agent (9×32×32 observations) with seed 5.
func pixelAgent(t *testing.T) *sac.Agent {
	t.Helper()
	cfg := sac.Default([]int{9, 32, 32}, 1)
	cfg.Hidden, cfg.Seed = 32, 5
	a, err := sac.New(cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func encoderGrads(t *testing.T, a *sac.Agent) [][]float64 {
	t.Helper()
	var out [][]float64
	for _, p := range a.EncoderParams() {
		g, err := nn.Grad(p.T)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tensor.AsFloat64s(g)
		g.MustDrop()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func params(t *testing.T, ps []optim.Param) [][]float64 {
	var out [][]float64
	for _, p := range ps {
		v, err := tensor.AsFloat64s(p.T)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// TestCURLStepReachesTheCriticEncoder is the RL runner's use of the
// method boundary: the anchor encoded by the critic's encoder and the
// positive by the target critic's go to the curl method, and the
// gradient it returns, back-propagated into the encoder, equals the
// gradient of CURL's loss (bilinear InfoNCE with the method's initial W)
// taken in one graph in the host: in process to float32 rounding, with
// the method out of process to the bound of sums taken in another order.
// The encoder's Adam then moves every parameter that had a gradient by
// its learning rate (a first Adam step).
func TestCURLStepReachesTheCriticEncoder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	const seed, n = 7, 16
	s := tensor.NewScope()
	defer s.Close()
	obs := func(r int64) *ts.Tensor {
		x, err := nn.Uniform(nn.NewRand(r), 0, 255, gotch.CPU, n, 9, 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		return s.T(x)
	}
	anchor, positive := obs(1), obs(2)

	// one graph in the host
	ref := pixelAgent(t)
	w0 := s.T(must(nn.Uniform(nn.NewRand(seed), 0, 1, gotch.CPU, ref.FeatureDim(), ref.FeatureDim())))
	func() {
		defer nn.Autograd()()
		fa := s.T(ref.Encode(anchor))
		fp := s.T(ref.EncodeTarget(positive))
		if err := s.T(moco.BilinearLoss(fa, fp, w0)).Backward(); err != nil {
			t.Fatal(err)
		}
	}()
	want := encoderGrads(t, ref)
	scale := 0.0
	for _, g := range want {
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	if scale == 0 {
		t.Fatal("CURL's loss gave the encoder no gradient")
	}
	// float32 sums of K terms in another order differ by about u·√K of
	// their scale; the first conv's gradient sums over the batch's 16·15·15
	// positions
	crossTol := math.Pow(2, -24) * math.Sqrt(n*15*15) * scale

	bin := filepath.Join(t.TempDir(), "selfsup-moco")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../plugins/moco/cmd/selfsup-moco").CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name string
		open func() (method.Method, error)
		tol  float64
	}{
		{"in process", func() (method.Method, error) { return moco.NewCURL(), nil }, 1e-6 * scale},
		{"plugin", func() (method.Method, error) {
			return plugin.Open(ctx, bin, plugin.Options{Method: "curl"})
		}, crossTol},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			a := pixelAgent(t)
			if err := a.EnableEncoderSteps(DefaultEncoderLR); err != nil {
				t.Fatal(err)
			}
			x, err := newAux(ctx, m, nil, a, 10, "cpu", seed)
			if err != nil {
				m.Close()
				t.Fatal(err)
			}
			defer x.close()
			before := params(t, a.EncoderParams())
			resp, err := x.step(ctx, a, anchor, positive)
			if err != nil {
				t.Fatal(err)
			}
			if !(resp.Loss > 0) {
				t.Errorf("CURL loss %v", resp.Loss)
			}
			got := encoderGrads(t, a)
			worst := 0.0
			for i := range want {
				for j := range want[i] {
					worst = math.Max(worst, math.Abs(got[i][j]-want[i][j]))
				}
			}
			t.Logf("largest gradient %.3g, largest difference %.3g (tolerance %.3g)", scale, worst, c.tol)
			if worst > c.tol {
				t.Errorf("encoder gradients differ from the one-graph step by up to %.3g (tolerance %.3g)", worst, c.tol)
			}
			after := params(t, a.EncoderParams())
			for i := range after {
				for j := range after[i] {
					if math.Abs(got[i][j]) < 1e-3*scale {
						continue
					}
					if d := math.Abs(after[i][j] - before[i][j]); math.Abs(d-DefaultEncoderLR) > 1e-5 {
						t.Fatalf("parameter %s[%d] moved by %.3g with gradient %.3g, want the first Adam step's %v", a.EncoderParams()[i].Name, j, d, got[i][j], DefaultEncoderLR)
					}
				}
			}
		})
	}
}

func must(x *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return x
}
