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

// conv is a convolution of groups independent groups of channels (one per
// prediction direction) with PyTorch's nn.Conv2d initialisation (weight
// and bias uniform in ±1/√fan_in of a group) and a fixed padding. in and
// out are per group.
type conv struct {
	w, b     *ts.Tensor
	padH, pW int64
	groups   int64
}

func newConv(p *gnn.Path, rng *rand.Rand, groups, in, out, kh, kw, padH, padW int64) (*conv, error) {
	if in <= 0 || out <= 0 || groups <= 0 {
		return nil, fmt.Errorf("convolution %d -> %d channels in %d groups: must be positive", in, out, groups)
	}
	bound := 1 / math.Sqrt(float64(in*kh*kw))
	w, err := nn.Uniform(rng, -bound, bound, p.Device(), groups*out, in, kh, kw)
	if err != nil {
		return nil, err
	}
	c := &conv{padH: padH, pW: padW, groups: groups}
	if c.w, err = nn.AddParam(p, "weight", w); err != nil {
		return nil, err
	}
	b, err := nn.Uniform(rng, -bound, bound, p.Device(), groups*out)
	if err != nil {
		return nil, err
	}
	c.b, err = nn.AddParam(p, "bias", b)
	return c, err
}

func (c *conv) forward(x *ts.Tensor) *ts.Tensor {
	return ts.MustConv2d(x, c.w, c.b, []int64{1, 1}, []int64{c.padH, c.pW}, []int64{1, 1}, c.groups)
}

// block is one residual block of the paper's pixelCNN (Hénaff et al.
// 2020, appendix A.2): 1×1 conv to the bottleneck, ReLU, 1×3 conv across
// the row, the map padded by one row on top and a 2×1 "valid" conv (so
// row i sees rows i−1 and i only), ReLU, 1×1 conv back to the latents'
// width, added to the residual stream.
type block struct {
	in, row, up, out *conv
}

// Context is CPC v2's autoregressive context network over a grid of patch
// latents: the latents are the residual stream, blocks add to it, and a
// final ReLU gives the context. Each block reaches one row further up and
// none reaches down, so c_ij depends on the latents of rows ≤ i only. It
// runs groups networks with weights of their own side by side (one per
// prediction direction) as grouped convolutions.
type Context struct {
	blocks []block
}

// NewContext adds a context network of blocks residual blocks with a
// bottleneck of width channels over latents of d channels.
func NewContext(p *gnn.Path, rng *rand.Rand, d, width int64, blocks int) (*Context, error) {
	return NewContexts(p, rng, 1, d, width, blocks)
}

// NewContexts adds groups independent context networks, run side by side
// on groups grids of latents stacked along the channels.
func NewContexts(p *gnn.Path, rng *rand.Rand, groups, d, width int64, blocks int) (*Context, error) {
	if blocks < 0 {
		return nil, fmt.Errorf("context network with %d residual blocks: want ≥ 0", blocks)
	}
	c := &Context{}
	for i := range blocks {
		bp := p.Sub("block" + strconv.Itoa(i))
		var b block
		var err error
		if b.in, err = newConv(bp.Sub("in"), rng, groups, d, width, 1, 1, 0, 0); err != nil {
			return nil, err
		}
		if b.row, err = newConv(bp.Sub("row"), rng, groups, width, width, 1, 3, 0, 1); err != nil {
			return nil, err
		}
		if b.up, err = newConv(bp.Sub("up"), rng, groups, width, width, 2, 1, 1, 0); err != nil {
			return nil, err
		}
		if b.out, err = newConv(bp.Sub("out"), rng, groups, width, d, 1, 1, 0, 0); err != nil {
			return nil, err
		}
		c.blocks = append(c.blocks, b)
	}
	return c, nil
}

// Forward maps latents z [N, G, G, D] to contexts [N, G, G, D] (one
// network). The caller owns the result.
func (c *Context) Forward(z *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	return s.T(c.forward(s.T(z.MustPermute([]int64{0, 3, 1, 2}, false)))).MustPermute([]int64{0, 2, 3, 1}, false).MustContiguous(true)
}

// forward maps channel-first latents h [N, groups·D, G, G] to contexts of
// the same shape. The caller owns the result.
func (c *Context) forward(h *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	g := h.MustSize()[2]
	for _, b := range c.blocks {
		x := s.T(s.T(b.in.forward(h)).MustRelu(false))
		x = s.T(b.row.forward(x))
		// padding one row on top and bottom gives G+1 rows; the first G
		// are the outputs of "pad one row on top, then a valid 2×1 conv"
		x = s.T(s.T(b.up.forward(x)).MustNarrow(2, 0, g, false))
		x = s.T(x.MustRelu(false))
		h = s.T(h.MustAdd(s.T(b.out.forward(x)), false))
	}
	return h.MustRelu(false)
}
