package translate

import (
	"fmt"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// DiscriminatorConfig is define_D's NLayerDiscriminator with CUT's
// defaults.
type DiscriminatorConfig struct {
	// In is the image channels (3); NDF the first layer's filters (64);
	// Layers the strided stages (3: the 70×70 PatchGAN, netD basic).
	In, NDF int64
	Layers  int
	// NoAntialias uses stride-2 convolutions instead of stride 1 followed
	// by the anti-aliased Downsample.
	NoAntialias bool
	// InitGain is the xavier-normal gain (0.02).
	InitGain float64
}

// DefaultDiscriminator is CUT's netD basic: 3 layers, ndf 64.
func DefaultDiscriminator() DiscriminatorConfig {
	return DiscriminatorConfig{In: 3, NDF: 64, Layers: 3, InitGain: 0.02}
}

// Discriminator is the PatchGAN: 4×4 convolutions with LeakyReLU(0.2),
// instance norm from the second, a one-channel map of real/fake scores.
type Discriminator struct {
	Config DiscriminatorConfig
	VS     *gnn.VarStore
	layers sequential
}

// NewDiscriminator builds a discriminator on dev, its weights drawn from
// rng.
func NewDiscriminator(cfg DiscriminatorConfig, dev gotch.Device, rng *rand.Rand) (*Discriminator, error) {
	if cfg.In <= 0 || cfg.NDF <= 0 || cfg.Layers < 1 {
		return nil, fmt.Errorf("translate: discriminator %+v: want positive channels and filters, ≥ 1 layer", cfg)
	}
	d := &Discriminator{Config: cfg, VS: gnn.NewVarStore(dev)}
	root := d.VS.Root().Sub("model")
	at := func() *gnn.Path { return root.Sub(fmt.Sprint(len(d.layers))) }
	add := func(m module, err error) error {
		if err != nil {
			return errAt("discriminator", len(d.layers), err)
		}
		d.layers = append(d.layers, m)
		return nil
	}
	gain, ndf := cfg.InitGain, cfg.NDF
	stride := int64(1)
	if cfg.NoAntialias {
		stride = 2
	}
	if err := add(newConv(at(), rng, cfg.In, ndf, 4, stride, 1, true, gain)); err != nil {
		return nil, err
	}
	add(leakyReLU{}, nil)
	if !cfg.NoAntialias {
		if err := add(newDownsample(at(), ndf)); err != nil {
			return nil, err
		}
	}
	mult := int64(1)
	for n := 1; n < cfg.Layers; n++ {
		prev := mult
		mult = min(int64(1)<<n, 8)
		if err := add(newConv(at(), rng, ndf*prev, ndf*mult, 4, stride, 1, true, gain)); err != nil {
			return nil, err
		}
		add(instanceNorm{}, nil)
		add(leakyReLU{}, nil)
		if !cfg.NoAntialias {
			if err := add(newDownsample(at(), ndf*mult)); err != nil {
				return nil, err
			}
		}
	}
	prev := mult
	mult = min(int64(1)<<cfg.Layers, 8)
	if err := add(newConv(at(), rng, ndf*prev, ndf*mult, 4, 1, 1, true, gain)); err != nil {
		return nil, err
	}
	add(instanceNorm{}, nil)
	add(leakyReLU{}, nil)
	if err := add(newConv(at(), rng, ndf*mult, 1, 4, 1, 1, true, gain)); err != nil {
		return nil, err
	}
	return d, nil
}

// Forward scores x [N, In, H, W]: [N, 1, h, w] patch logits (LSGAN
// targets 1 real, 0 fake). The caller owns the result.
func (d *Discriminator) Forward(x *ts.Tensor) *ts.Tensor { return d.layers.run(x) }

// Params is the number of trainable values.
func (d *Discriminator) Params() int64 { return countParams(d.VS) }

// Close frees the variables.
func (d *Discriminator) Close() { d.VS.Destroy() }
