package cpcv2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MaskedConv is a 3×3 convolution over the grid whose kernel row below the
// centre is zeroed (a PixelCNN-style mask over rows only): output (i, j)
// sees inputs in rows i−1 and i, columns j−1 to j+1. Stacked, such layers
// keep the context of row i to the rows at or above it, so predicting
// latents k ≥ 1 rows below never sees them. Variables: "weight"
// [out, in, 3, 3] and "bias" [out], initialised as PyTorch's nn.Conv2d.
type MaskedConv struct {
	W, B, mask *ts.Tensor
}

// NewMaskedConv adds a masked 3×3 convolution from in to out channels.
func NewMaskedConv(p *gnn.Path, rng *rand.Rand, in, out int64) (*MaskedConv, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("masked conv %d -> %d channels: must be positive", in, out)
	}
	// nn.Conv2d's reset_parameters: kaiming_uniform_(a=√5) on the weight
	// gives bound 1/√fan_in, as does the bias.
	bound := 1 / math.Sqrt(float64(in*9))
	dev := p.Device()
	w, err := nn.Uniform(rng, -bound, bound, dev, out, in, 3, 3)
	if err != nil {
		return nil, err
	}
	c := &MaskedConv{}
	if c.W, err = nn.AddParam(p, "weight", w); err != nil {
		return nil, err
	}
	b, err := nn.Uniform(rng, -bound, bound, dev, out)
	if err != nil {
		return nil, err
	}
	if c.B, err = nn.AddParam(p, "bias", b); err != nil {
		return nil, err
	}
	// The kernel's bottom row is zeroed by a buffer: it moves with the
	// store and is saved, but never trained.
	m, err := tensor.FromFloat32([]float32{1, 1, 1, 1, 1, 1, 0, 0, 0}, 1, 1, 3, 3)
	if err != nil {
		return nil, err
	}
	if dev != m.MustDevice() {
		m = m.MustTo(dev, true)
	}
	if c.mask, err = nn.AddBuffer(p, "mask", m); err != nil {
		return nil, err
	}
	return c, nil
}

// Forward convolves x [N, in, G, G] with the masked kernel, zero padding 1:
// [N, out, G, G]. The caller owns the result.
func (c *MaskedConv) Forward(x *ts.Tensor) *ts.Tensor {
	w := c.W.MustMul(c.mask, false)
	defer w.MustDrop()
	return ts.MustConv2d(x, w, c.B, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, 1)
}

// Context is CPC v2's context network g, scaled down: a masked
// convolution from the latents to width channels, then residual blocks
// h + MaskedConv(ReLU(h)), over the [N, D, G, G] grid of patch latents.
// Every layer is row-masked, so c_ij summarises the latents of rows ≤ i.
type Context struct {
	in     *MaskedConv
	blocks []*MaskedConv
}

// NewContext adds a context network of 1 + blocks masked layers.
func NewContext(p *gnn.Path, rng *rand.Rand, d, width int64, blocks int) (*Context, error) {
	if blocks < 0 {
		return nil, fmt.Errorf("context network with %d residual blocks: want ≥ 0", blocks)
	}
	c := &Context{}
	var err error
	if c.in, err = NewMaskedConv(p.Sub("in"), rng, d, width); err != nil {
		return nil, err
	}
	for i := range blocks {
		b, err := NewMaskedConv(p.Sub("block"+strconv.Itoa(i)), rng, width, width)
		if err != nil {
			return nil, err
		}
		c.blocks = append(c.blocks, b)
	}
	return c, nil
}

// Forward maps latents z [N, G, G, D] to contexts [N, G, G, width]. The
// caller owns the result.
func (c *Context) Forward(z *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(c.in.Forward(s.T(z.MustPermute([]int64{0, 3, 1, 2}, false))))
	for _, b := range c.blocks {
		r := s.T(b.Forward(s.T(h.MustRelu(false))))
		h = s.T(h.MustAdd(r, false))
	}
	return h.MustPermute([]int64{0, 2, 3, 1}, false).MustContiguous(true)
}
