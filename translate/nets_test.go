package translate

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// official is translate/testdata/official-nets.safetensors, written by
// bench/translate/official_nets.py from the official networks.py.
func official(t *testing.T) (map[string]*ts.Tensor, map[string]string) {
	t.Helper()
	tensors, meta, err := safetensors.ReadFile("testdata/official-nets.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, x := range tensors {
			x.MustDrop()
		}
	})
	return tensors, meta
}

// TestParamCounts: the full-size networks have the official networks'
// parameter counts (define_G resnet_9blocks and resnet_6blocks, ngf 64;
// define_D basic, ndf 64).
func TestParamCounts(t *testing.T) {
	_, meta := official(t)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, blocks := range []int{9, 6} {
		cfg := DefaultGenerator()
		cfg.Blocks = blocks
		g, err := NewGenerator(cfg, gotch.CPU, rng)
		if err != nil {
			t.Fatal(err)
		}
		want := meta["params.resnet_"+strconv.Itoa(blocks)+"blocks"]
		if got := strconv.FormatInt(g.Params(), 10); got != want {
			t.Errorf("resnet_%dblocks: %s parameters, official %s", blocks, got, want)
		}
		g.Close()
	}
	d, err := NewDiscriminator(DefaultDiscriminator(), gotch.CPU, rng)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got, want := strconv.FormatInt(d.Params(), 10), meta["params.basic"]; got != want {
		t.Errorf("PatchGAN: %s parameters, official %s", got, want)
	}
}

// load copies the official state dict entries under prefix into vs,
// checking that both hold the same names and shapes.
func load(t *testing.T, vs *gnn.VarStore, ref map[string]*ts.Tensor, prefix string) {
	t.Helper()
	var theirs []string
	for k := range ref {
		if strings.HasPrefix(k, prefix) && strings.HasPrefix(strings.TrimPrefix(k, prefix), "model.") {
			theirs = append(theirs, strings.TrimPrefix(k, prefix))
		}
	}
	ours := vs.Variables()
	var mine []string
	for k := range ours {
		mine = append(mine, k)
	}
	slices.Sort(theirs)
	slices.Sort(mine)
	if !slices.Equal(theirs, mine) {
		t.Fatalf("variables differ from the official state dict:\nours     %v\nofficial %v", mine, theirs)
	}
	ts.NoGrad(func() {
		for k, v := range ours {
			src := ref[prefix+k]
			if !slices.Equal(src.MustSize(), v.MustSize()) {
				t.Fatalf("%s: shape %v, official %v", k, v.MustSize(), src.MustSize())
			}
			dv := v.MustDetach(false)
			dv.Copy_(src)
			dv.MustDrop()
		}
	})
}

func near(t *testing.T, what string, got, want *ts.Tensor) {
	t.Helper()
	if !slices.Equal(got.MustSize(), want.MustSize()) {
		t.Fatalf("%s: shape %v, official %v", what, got.MustSize(), want.MustSize())
	}
	g, _ := tensor.AsFloat64s(got)
	w, _ := tensor.AsFloat64s(want)
	for i := range w {
		if math.Abs(g[i]-w[i]) > 1e-4*(1+math.Abs(w[i])) {
			t.Fatalf("%s[%d] = %.6g, official %.6g", what, i, g[i], w[i])
		}
	}
}

// TestOfficialForward: with the official networks' weights, our generator
// (output and encoder features at CUT's nce_layers) and discriminator give
// the official outputs, anti-aliased and not.
func TestOfficialForward(t *testing.T) {
	runtime.LockOSThread()
	ref, meta := official(t)
	x := ref["input"]
	for _, tag := range []string{"aa", "noaa"} {
		t.Run(tag, func(t *testing.T) {
			noaa := tag == "noaa"
			rng := rand.New(rand.NewPCG(2, 2))
			g, err := NewGenerator(GeneratorConfig{In: 3, Out: 3, NGF: 4, Blocks: 6, NoAntialias: noaa, NoAntialiasUp: noaa, InitGain: 0.02}, gotch.CPU, rng)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if got := strconv.Itoa(g.Layers()); got != meta[tag+".G.layers"] {
				t.Errorf("generator has %s layers, official %s", got, meta[tag+".G.layers"])
			}
			load(t, g.VS, ref, tag+".G.")
			d, err := NewDiscriminator(DiscriminatorConfig{In: 3, NDF: 4, Layers: 3, NoAntialias: noaa, InitGain: 0.02}, gotch.CPU, rng)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			load(t, d.VS, ref, tag+".D.")
			s := tensor.NewScope()
			defer s.Close()
			ts.NoGrad(func() {
				near(t, "G(x)", s.T(g.Forward(x)), ref[tag+".G.output"])
				layers := []int{0, 4, 8, 12, 16}
				feats, err := g.Encode(x, layers)
				if err != nil {
					t.Fatal(err)
				}
				for i, f := range feats {
					s.T(f)
					near(t, "feature "+strconv.Itoa(layers[i]), f, ref[tag+".G.feat."+strconv.Itoa(layers[i])])
				}
				near(t, "D(x)", s.T(d.Forward(x)), ref[tag+".D.output"])
			})
		})
	}
}
