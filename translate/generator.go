package translate

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// GeneratorConfig is define_G's ResnetGenerator with CUT's defaults.
type GeneratorConfig struct {
	// In and Out are the image channels (3, 3).
	In, Out int64
	// NGF is the filters of the first layer (64).
	NGF int64
	// Blocks is the ResNet blocks: 9 (resnet_9blocks, CUT's default) or 6
	// (resnet_6blocks).
	Blocks int
	// NoAntialias and NoAntialiasUp use strided convolutions (down) and
	// transposed ones (up) instead of the anti-aliased Downsample and
	// Upsample (--no_antialias, --no_antialias_up).
	NoAntialias, NoAntialiasUp bool
	// InitGain is the xavier-normal gain of every weight (0.02).
	InitGain float64
}

// DefaultGenerator is CUT's netG resnet_9blocks, ngf 64, RGB in and out.
func DefaultGenerator() GeneratorConfig {
	return GeneratorConfig{In: 3, Out: 3, NGF: 64, Blocks: 9, InitGain: 0.02}
}

// Generator is ResnetGenerator: reflection pad 3, 7×7 conv, two
// downsamplings, Blocks ResNet blocks, two upsamplings, reflection pad 3,
// 7×7 conv, tanh; instance norm and ReLU after every inner conv. Its
// layers are numbered as the official nn.Sequential's, which is how CUT's
// nce_layers name them (0 is the padded input, 4 and 8 the down convs'
// outputs, 12… the blocks').
type Generator struct {
	Config GeneratorConfig
	VS     *gnn.VarStore
	layers sequential
}

// NewGenerator builds a generator on dev, its weights drawn from rng.
func NewGenerator(cfg GeneratorConfig, dev gotch.Device, rng *rand.Rand) (*Generator, error) {
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.NGF <= 0 || cfg.Blocks < 0 {
		return nil, fmt.Errorf("translate: generator %+v: want positive channels and filters, blocks ≥ 0", cfg)
	}
	g := &Generator{Config: cfg, VS: gnn.NewVarStore(dev)}
	root := g.VS.Root().Sub("model")
	at := func() *gnn.Path { return root.Sub(fmt.Sprint(len(g.layers))) }
	add := func(m module, err error) error {
		if err != nil {
			return errAt("generator", len(g.layers), err)
		}
		g.layers = append(g.layers, m)
		return nil
	}
	gain, ngf := cfg.InitGain, cfg.NGF
	var err error
	add(pad{p: 3}, nil)
	if err = add(newConv(at(), rng, cfg.In, ngf, 7, 1, 0, true, gain)); err != nil {
		return nil, err
	}
	add(instanceNorm{}, nil)
	add(relu{}, nil)
	for i := range int64(2) {
		c := ngf << i
		if cfg.NoAntialias {
			if err = add(newConv(at(), rng, c, 2*c, 3, 2, 1, true, gain)); err != nil {
				return nil, err
			}
			add(instanceNorm{}, nil)
			add(relu{}, nil)
			continue
		}
		if err = add(newConv(at(), rng, c, 2*c, 3, 1, 1, true, gain)); err != nil {
			return nil, err
		}
		add(instanceNorm{}, nil)
		add(relu{}, nil)
		if err = add(newDownsample(at(), 2*c)); err != nil {
			return nil, err
		}
	}
	for range cfg.Blocks {
		if err = add(newResBlock(at(), rng, 4*ngf, gain)); err != nil {
			return nil, err
		}
	}
	for i := range int64(2) {
		c := (4 * ngf) >> i
		if cfg.NoAntialiasUp {
			if err = add(newConvTranspose(at(), rng, c, c/2, 3, 2, 1, 1, true, gain)); err != nil {
				return nil, err
			}
		} else {
			if err = add(newUpsample(at(), c)); err != nil {
				return nil, err
			}
			if err = add(newConv(at(), rng, c, c/2, 3, 1, 1, true, gain)); err != nil {
				return nil, err
			}
		}
		add(instanceNorm{}, nil)
		add(relu{}, nil)
	}
	add(pad{p: 3}, nil)
	if err = add(newConv(at(), rng, ngf, cfg.Out, 7, 1, 0, true, gain)); err != nil {
		return nil, err
	}
	add(tanh{}, nil)
	return g, nil
}

// Layers is the number of layers (the official nn.Sequential's length).
func (g *Generator) Layers() int { return len(g.layers) }

// Forward translates x [N, In, H, W] (values in [−1, 1]); the caller owns
// the result.
func (g *Generator) Forward(x *ts.Tensor) *ts.Tensor { return g.layers.run(x) }

// Encode returns the outputs of the given layers (ascending indices) of x's
// pass, stopping after the last (ResnetGenerator.forward with
// encode_only=True). The caller owns them.
func (g *Generator) Encode(x *ts.Tensor, layers []int) ([]*ts.Tensor, error) {
	if len(layers) == 0 || !slices.IsSorted(layers) || layers[0] < 0 || layers[len(layers)-1] >= len(g.layers) {
		return nil, fmt.Errorf("translate: encoder layers %v: want ascending indices in [0, %d)", layers, len(g.layers))
	}
	out := make([]*ts.Tensor, 0, len(layers))
	h := x.MustShallowClone()
	last := layers[len(layers)-1]
	for i, m := range g.layers[:last+1] {
		next := m.forward(h)
		h.MustDrop()
		h = next
		if !slices.Contains(layers, i) {
			continue
		}
		// The official ReLUs work in place (nn.ReLU(True)): a kept output
		// that a ReLU follows before the pass stops is rectified in the
		// list it returns (layer 8 with --no_antialias), so keep it so.
		if _, ok := g.layers[min(i+1, len(g.layers)-1)].(relu); ok && i < last {
			out = append(out, h.MustRelu(false))
			continue
		}
		out = append(out, h.MustShallowClone())
	}
	h.MustDrop()
	return out, nil
}

// Params is the number of trainable values.
func (g *Generator) Params() int64 { return countParams(g.VS) }

func countParams(vs *gnn.VarStore) int64 {
	var n int64
	for _, v := range vs.TrainableVariables() {
		n += int64(v.Numel())
	}
	return n
}

// Close frees the variables.
func (g *Generator) Close() { g.VS.Destroy() }
