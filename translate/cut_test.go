package translate

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// smallCUT is CUT on 32×32 images with a 4-filter, 2-block generator.
func smallCUT() Config {
	c := CUTConfig()
	c.G.NGF, c.G.Blocks, c.D.NDF = 4, 2, 4
	c.NCELayers, c.NumPatches = []int{0, 4, 8, 12}, 16
	return c
}

func images(t *testing.T, seed uint64) (*ts.Tensor, *ts.Tensor) {
	t.Helper()
	rng := nn.NewRand(int64(seed))
	a, err := nn.Uniform(rng, -1, 1, gotch.CPU, 2, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nn.Uniform(rng, -1, 1, gotch.CPU, 2, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// gradsOf copies every generator parameter's gradient.
func gradsOf(t *testing.T, g *Generator) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for name, v := range g.VS.Variables() {
		if !v.MustRequiresGrad() {
			continue
		}
		gr, err := nn.Grad(&v)
		if err != nil {
			t.Fatal(err)
		}
		out[name], _ = tensor.AsFloat64s(gr)
		gr.MustDrop()
	}
	return out
}

// TestNCEGradientAsOneGraph: the generator's gradient from a CUT step
// whose PatchNCE runs in the method — in process, and out of process
// through the plugin binary — equals the gradient of the same loss built
// in one autograd graph in this process (the method's initial MLPs read
// back from an identically seeded copy, the same patch positions). λ_GAN
// is 0 so that only the NCE term reaches the generator.
func TestNCEGradientAsOneGraph(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	cfg := smallCUT()
	cfg.LambdaGAN = 0
	a, b := images(t, 3)
	defer a.MustDrop()
	defer b.MustDrop()
	want := oneGraph(t, ctx, cfg, a, b)
	for _, where := range []string{"in process", "plugin"} {
		t.Run(where, func(t *testing.T) {
			var m method.Method = patchnce.New()
			if where == "plugin" {
				if testing.Short() {
					t.Skip("builds and runs the plugin")
				}
				bin := filepath.Join(t.TempDir(), "selfsup-patchnce")
				if out, err := exec.Command("go", "build", "-o", bin, "../plugins/patchnce/cmd/selfsup-patchnce").CombinedOutput(); err != nil {
					t.Fatalf("build the plugin: %v\n%s", err, out)
				}
				var err error
				if m, err = plugin.Open(ctx, bin, plugin.Options{Method: patchnce.Name}); err != nil {
					t.Fatal(err)
				}
			}
			model, err := New(ctx, cfg, m, gotch.CPU, 32, 10, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer model.Close()
			if _, err := model.Step(ctx, a, b, 0); err != nil {
				t.Fatal(err)
			}
			got := gradsOf(t, model.G)
			// one scale for all: the biases before an instance norm get
			// only rounding noise, which no two summation orders share
			scale := 0.0
			for _, w := range want {
				for _, v := range w {
					scale = max(scale, math.Abs(v))
				}
			}
			if scale == 0 {
				t.Fatal("no gradient in the one-graph step")
			}
			for name, w := range want {
				for i := range w {
					if math.Abs(got[name][i]-w[i]) > 1e-4*scale {
						t.Fatalf("d loss / d %s [%d] = %.6g, one graph %.6g (scale %.3g)", name, i, got[name][i], w[i], scale)
					}
				}
			}
		})
	}
}

// oneGraph is the generator gradient of CUT's NCE loss done in one graph.
func oneGraph(t *testing.T, ctx context.Context, cfg Config, a, b *ts.Tensor) map[string][]float64 {
	t.Helper()
	ref := patchnce.New()
	model, err := New(ctx, cfg, ref, gotch.CPU, 32, 10, 2) // same seed: same networks, MLPs, positions
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	vars := ref.Heads().VS.Variables()
	w := func(name string) *ts.Tensor { v := vars[name]; return &v }
	mlp := func(i int, h *ts.Tensor) *ts.Tensor {
		p := fmt.Sprintf("netF.mlp_%d", i)
		h = s.T(s.T(ts.MustLinear(h, w(p+".0.weight"), w(p+".0.bias"))).MustRelu(false))
		h = s.T(ts.MustLinear(h, w(p+".2.weight"), w(p+".2.bias")))
		norm := s.T(s.T(s.T(s.T(h.MustSquare(false)).MustSumDimIntlist([]int64{1}, true, gotch.Float, false)).MustSqrt(false)).MustAddScalar(ts.FloatScalar(1e-7), false))
		return s.T(h.MustDiv(norm, false))
	}
	fake := s.T(model.G.Forward(s.T(ts.MustCat([]*ts.Tensor{a, b}, 0))))
	// the model's discriminator step comes first and draws nothing
	pairs := [][2]*ts.Tensor{{s.T(fake.MustNarrow(0, 0, 2, false)), a}, {s.T(fake.MustNarrow(0, 2, 2, false)), b}}
	encQ, encK := make([][]*ts.Tensor, 2), make([][]*ts.Tensor, 2)
	for i, p := range pairs {
		encQ[i] = must(model.G.Encode(p[0], cfg.NCELayers))
		encK[i] = must(model.G.Encode(p[1], cfg.NCELayers))
		for j := range encQ[i] {
			s.T(encQ[i][j])
			encK[i][j] = s.T(s.T(encK[i][j]).MustDetach(false))
		}
	}
	var total *ts.Tensor
	for pi := range pairs {
		var pair *ts.Tensor
		for li := range cfg.NCELayers {
			sz := encQ[0][li].MustSize()
			perm := model.rng.Perm(int(sz[2] * sz[3]))[:cfg.NumPatches]
			pos := make([]int64, len(perm))
			for i, v := range perm {
				pos[i] = int64(v)
			}
			ids := s.T(must(tensor.FromInt64(pos, int64(len(pos)))))
			q := mlp(li, s.T(gatherPatches(encQ[pi][li], ids)))
			k := s.T(mlp(li, s.T(gatherPatches(encK[pi][li], ids))).MustDetach(false))
			l := s.T(must(patchnce.Loss(q, k, 2, cfg.NCET, false)))
			l = s.T(l.MustMulScalar(ts.FloatScalar(cfg.LambdaNCE), false))
			if pair == nil {
				pair = l
			} else {
				pair = s.T(pair.MustAdd(l, false))
			}
		}
		pair = s.T(pair.MustDivScalar(ts.FloatScalar(float64(len(cfg.NCELayers))), false))
		if total == nil {
			total = pair
		} else {
			total = s.T(s.T(total.MustAdd(pair, false)).MustMulScalar(ts.FloatScalar(0.5), false))
		}
	}
	if err := total.Backward(); err != nil {
		t.Fatal(err)
	}
	t.Logf("one-graph NCE loss %.6f over layers %s", nn.Item(total), strconv.Quote(fmt.Sprint(cfg.NCELayers)))
	return gradsOf(t, model.G)
}
