package patchnce_test

import (
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, patchnce.Constructor(), "")
}

// buildPlugin builds cmd/selfsup-patchnce into a temporary folder.
func buildPlugin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "selfsup-patchnce")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/selfsup-patchnce").CombinedOutput(); err != nil {
		t.Fatalf("build the plugin (eval \"$(sh sdk/backend/env.sh)\" first): %v\n%s", err, out)
	}
	return bin
}

// TestConformancePlugin runs the shared golden cases through the plugin
// binary, out of process.
func TestConformancePlugin(t *testing.T) {
	conformance.TestPlugin(t, buildPlugin(t), "")
}

func TestStep(t *testing.T) {
	conformance.TestStep(t, patchnce.Constructor(), conformance.StepOptions{Batch: 2, Dim: 16, MemorySteps: 120})
}

func TestSpec(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   method.Params
		views int
		taps  int
	}{
		{"CUT", nil, 4, 2},
		{"FastCUT", method.Params{"nce_idt": false, "lambda_NCE": 10}, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cfg patchnce.Config
			if err := decode(c.cfg, &cfg); err != nil {
				t.Fatal(err)
			}
			s := patchnce.Def.Spec(&cfg)
			s.Name = patchnce.Name // the kit names it
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(s.Views) != c.views || len(s.Taps) != c.taps {
				t.Fatalf("%d views, %d taps; want %d and %d", len(s.Views), len(s.Taps), c.views, c.taps)
			}
			if tap := s.Taps[0]; tap.Kind != method.Patches || tap.Patches != 256 || len(tap.Layers) != 5 || tap.Layers[4] != "16" {
				t.Errorf("tap %+v: want 256 patches of layers 0,4,8,12,16", tap)
			}
			if s.Target == nil || s.Target.Momentum != 0 || s.Views[1].Online || !s.Views[1].Target {
				t.Errorf("spec %+v: the keys must come without gradient from the generator itself (target of momentum 0)", s)
			}
		})
	}
}

// TestLRFactor: CUT's linear policy with n_epochs 200, n_epochs_decay 200.
func TestLRFactor(t *testing.T) {
	c := patchnce.Config{NEpochs: 200, NEpochsDecay: 200}
	for _, x := range []struct {
		epoch int64
		want  float64
	}{{0, 1}, {198, 1}, {199, 1 - 0.0/201}, {200, 1 - 1.0/201}, {399, 1 - 200.0/201}} {
		if got := c.LRFactor(x.epoch); math.Abs(got-x.want) > 1e-12 {
			t.Errorf("epoch %d: factor %v, want %v", x.epoch, got, x.want)
		}
	}
}

// TestStepByHand: the step's loss and its gradient for the query patches
// are those of CUT's calculate_NCE_loss done in one autograd graph — the
// method's own MLPs (read back from it) on the query and (detached) key
// patches, PatchNCE per layer, λ, the mean over layers and the two pairs
// — in process and through the plugin binary.
func TestStepByHand(t *testing.T) {
	runtime.LockOSThread()
	const n, d = 2, 8
	cfg := method.Params{"num_patches": 4, "nce_layers": "0,4", "netF_nc": 6, "lambda_NCE": 2, "init_gain": 0.5}
	mk := map[string]func(t *testing.T) method.Method{
		"in process": func(t *testing.T) method.Method { return patchnce.New() },
		"plugin": func(t *testing.T) method.Method {
			m, err := plugin.Open(t.Context(), buildPlugin(t), plugin.Options{Method: patchnce.Name})
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
	}
	ref := patchnce.New() // its MLPs, set up with the same seed, are the hand computation's
	defer ref.Close()
	spec := setup(t, ref, cfg, d)
	req, err := conformance.RandomStep(spec, n, d, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Features.Drop()
	wantLoss, wantGrads := byHand(t, ref, req, n)
	for name, newM := range mk {
		t.Run(name, func(t *testing.T) {
			m := newM(t)
			defer m.Close()
			setup(t, m, cfg, d)
			resp, err := m.Step(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Grads.Drop()
			if math.Abs(resp.Loss-wantLoss) > 1e-5*(1+math.Abs(wantLoss)) {
				t.Errorf("loss %v, by hand %v", resp.Loss, wantLoss)
			}
			for key, want := range wantGrads {
				got, err := tensor.AsFloat64s(resp.Grads[key])
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-6+1e-4*math.Abs(want[i]) {
						t.Fatalf("d loss / d %s [%d] = %v, by hand %v", key, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func setup(t *testing.T, m method.Method, cfg method.Params, d int64) method.Spec {
	t.Helper()
	var spec method.Spec
	if _, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: conformance.FeatureDims(patchnce.Def.Spec(mustConfig(t, cfg)), d), Config: cfg, Device: "cpu", Seed: 9, TotalSteps: 10}); err != nil {
		t.Fatal(err)
	}
	spec = m.Spec()
	return spec
}

func mustConfig(t *testing.T, p method.Params) *patchnce.Config {
	t.Helper()
	var c patchnce.Config
	if err := decode(p, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// byHand recomputes the step's loss from ref's MLP weights in float64 and
// returns it with d loss / d query patches per online feature key.
func byHand(t *testing.T, ref *patchnceMethod, req method.StepRequest, n int64) (float64, map[string][]float64) {
	t.Helper()
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	vars := ref.Heads().VS.Variables()
	w := func(name string) *ts.Tensor {
		v, ok := vars[name]
		if !ok {
			t.Fatalf("no variable %s in %v", name, keys(vars))
		}
		return s.T(v.MustTotype(gotch.Double, false))
	}
	c := ref.Config()
	layers := []string{"0", "4"}
	leaves := map[string]*ts.Tensor{}
	pair := func(q, k, tap string) *ts.Tensor {
		var total *ts.Tensor
		for i, l := range layers {
			key := tap + "." + l
			qk := method.FeatureKey(q, key, false)
			x := s.T(nn.Leaf(s.T(req.Features[qk].MustTotype(gotch.Double, false))))
			leaves[qk] = x
			kx := s.T(req.Features[method.FeatureKey(k, key, true)].MustTotype(gotch.Double, false))
			mlp := func(h *ts.Tensor) *ts.Tensor {
				p := "netF.mlp_" + string(rune('0'+i))
				h = s.T(s.T(ts.MustLinear(h, w(p+".0.weight"), w(p+".0.bias"))).MustRelu(false))
				h = s.T(ts.MustLinear(h, w(p+".2.weight"), w(p+".2.bias")))
				norm := s.T(s.T(s.T(s.T(h.MustSquare(false)).MustSumDimIntlist([]int64{1}, true, gotch.Double, false)).MustSqrt(false)).MustAddScalar(ts.FloatScalar(1e-7), false))
				return s.T(h.MustDiv(norm, false))
			}
			li, err := patchnce.Loss(mlp(x), s.T(mlp(kx).MustDetach(false)), n, c.T, false)
			if err != nil {
				t.Fatal(err)
			}
			li = s.T(s.T(li).MustMulScalar(ts.FloatScalar(c.Lambda), false))
			if total == nil {
				total = li
			} else {
				total = s.T(total.MustAdd(li, false))
			}
		}
		return s.T(total.MustDivScalar(ts.FloatScalar(float64(len(layers))), false))
	}
	loss := s.T(s.T(pair("fake", "real", "nce").MustAdd(pair("idt", "real_b", "nce_idt"), false)).MustMulScalar(ts.FloatScalar(0.5), false))
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float64{}
	for k, x := range leaves {
		g, err := nn.Grad(x)
		if err != nil {
			t.Fatal(err)
		}
		grads[k], _ = tensor.AsFloat64s(s.T(g))
	}
	return nn.Item(loss), grads
}

type patchnceMethod = methodkit.Method[patchnce.Config]

func decode(p method.Params, c *patchnce.Config) error {
	return methodkit.Decode("patchnce", p, c, true)
}

func keys(m map[string]ts.Tensor) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
