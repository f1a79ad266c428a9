package translate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// module is one entry of an nn.Sequential: forward returns a new tensor
// the caller owns and leaves x alone.
type module interface {
	forward(x *ts.Tensor) *ts.Tensor
}

// sequential runs modules in order, as nn.Sequential; their index is their
// name in the state ("model.<i>.weight").
type sequential []module

// run applies the modules; the caller owns the result.
func (s sequential) run(x *ts.Tensor) *ts.Tensor {
	h := x.MustShallowClone()
	for _, m := range s {
		next := m.forward(h)
		h.MustDrop()
		h = next
	}
	return h
}

// conv is nn.Conv2d (or ConvTranspose2d when transposed) with zero
// padding; its weight is xavier-normal with gain and its bias zero, as
// init_weights('xavier', gain) leaves it. Variables "weight" and, with a
// bias, "bias".
type conv struct {
	w, b                    *ts.Tensor
	stride, pad, outPadding int64
	transposed              bool
}

func newConv(p *gnn.Path, rng *rand.Rand, in, out, k, stride, pad int64, bias bool, gain float64) (*conv, error) {
	return addConv(p, rng, []int64{out, in, k, k}, out, &conv{stride: stride, pad: pad}, bias, gain)
}

func newConvTranspose(p *gnn.Path, rng *rand.Rand, in, out, k, stride, pad, outPad int64, bias bool, gain float64) (*conv, error) {
	return addConv(p, rng, []int64{in, out, k, k}, out, &conv{stride: stride, pad: pad, outPadding: outPad, transposed: true}, bias, gain)
}

func addConv(p *gnn.Path, rng *rand.Rand, shape []int64, out int64, c *conv, bias bool, gain float64) (*conv, error) {
	rf := shape[2] * shape[3]
	std := gain * math.Sqrt(2/float64((shape[0]+shape[1])*rf)) // xavier_normal_: fan_in + fan_out
	w, err := nn.Normal(rng, p.Device(), shape...)
	if err != nil {
		return nil, err
	}
	ws := w.MustMulScalar(ts.FloatScalar(std), true)
	if c.w, err = nn.AddParam(p, "weight", ws); err != nil {
		return nil, err
	}
	if bias {
		b, err := nn.Filled(0, p.Device(), out)
		if err != nil {
			return nil, err
		}
		if c.b, err = nn.AddParam(p, "bias", b); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *conv) forward(x *ts.Tensor) *ts.Tensor {
	b := c.b
	if b == nil {
		b = ts.None
	}
	if c.transposed {
		return ts.MustConvTranspose2d(x, c.w, b, []int64{c.stride, c.stride}, []int64{c.pad, c.pad}, []int64{c.outPadding, c.outPadding}, 1, []int64{1, 1})
	}
	return ts.MustConv2d(x, c.w, b, []int64{c.stride, c.stride}, []int64{c.pad, c.pad}, []int64{1, 1}, 1)
}

// pad is ReflectionPad2d or ReplicationPad2d by p on every side.
type pad struct {
	p         int64
	replicate bool
}

func (m pad) forward(x *ts.Tensor) *ts.Tensor {
	ps := []int64{m.p, m.p, m.p, m.p}
	if m.replicate {
		return x.MustReplicationPad2d(ps, false)
	}
	return x.MustReflectionPad2d(ps, false)
}

// instanceNorm is InstanceNorm2d(affine=False, track_running_stats=False).
type instanceNorm struct{}

func (instanceNorm) forward(x *ts.Tensor) *ts.Tensor {
	y, err := backend.InstanceNorm(x, 1e-5)
	if err != nil {
		panic(err)
	}
	return y
}

type relu struct{}

func (relu) forward(x *ts.Tensor) *ts.Tensor { return x.MustRelu(false) }

// leakyReLU is LeakyReLU(0.2).
type leakyReLU struct{}

func (leakyReLU) forward(x *ts.Tensor) *ts.Tensor {
	y, err := backend.LeakyReLU(x, 0.2)
	if err != nil {
		panic(err)
	}
	return y
}

type tanh struct{}

func (tanh) forward(x *ts.Tensor) *ts.Tensor { return x.MustTanh(false) }

// binomial is networks.get_filter: the outer product of a row of Pascal's
// triangle with itself, summing to 1.
func binomial(size int) []float32 {
	row := []float64{1}
	for range size - 1 {
		next := make([]float64, len(row)+1)
		for i := range next {
			if i < len(row) {
				next[i] += row[i]
			}
			if i > 0 {
				next[i] += row[i-1]
			}
		}
		row = next
	}
	var sum float64
	out := make([]float32, 0, size*size)
	for _, a := range row {
		for _, b := range row {
			sum += a * b
		}
	}
	for _, a := range row {
		for _, b := range row {
			out = append(out, float32(a*b/sum))
		}
	}
	return out
}

// blurFilter is the buffer "filt" [C, 1, k, k] of Downsample and
// Upsample: the binomial filter times scale, repeated per channel.
func blurFilter(p *gnn.Path, channels int64, size int, scale float32) (*ts.Tensor, error) {
	f := binomial(size)
	v := make([]float32, 0, int(channels)*len(f))
	for range channels {
		for _, x := range f {
			v = append(v, x*scale)
		}
	}
	t, err := tensor.FromFloat32(v, channels, 1, int64(size), int64(size))
	if err != nil {
		return nil, err
	}
	if p.Device() != gotch.CPU {
		t = t.MustTo(p.Device(), true)
	}
	return nn.AddBuffer(p, "filt", t)
}

// downsample is the anti-aliased Downsample(C) (Zhang 2019): reflection
// pad 1, the 3×3 binomial blur per channel, stride 2.
type downsample struct {
	filt     *ts.Tensor
	channels int64
}

func newDownsample(p *gnn.Path, channels int64) (*downsample, error) {
	f, err := blurFilter(p, channels, 3, 1)
	return &downsample{filt: f, channels: channels}, err
}

func (d *downsample) forward(x *ts.Tensor) *ts.Tensor {
	pd := x.MustReflectionPad2d([]int64{1, 1, 1, 1}, false)
	defer pd.MustDrop()
	return ts.MustConv2d(pd, d.filt, ts.None, []int64{2, 2}, []int64{0, 0}, []int64{1, 1}, d.channels)
}

// upsample is the anti-aliased Upsample(C): replication pad 1, a
// transposed convolution by the 4×4 binomial filter times 4 per channel
// (stride 2, padding 2), cropped by one row and column at each end.
type upsample struct {
	filt     *ts.Tensor
	channels int64
}

func newUpsample(p *gnn.Path, channels int64) (*upsample, error) {
	f, err := blurFilter(p, channels, 4, 4)
	return &upsample{filt: f, channels: channels}, err
}

func (u *upsample) forward(x *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	pd := s.T(x.MustReplicationPad2d([]int64{1, 1, 1, 1}, false))
	y := s.T(ts.MustConvTranspose2d(pd, u.filt, ts.None, []int64{2, 2}, []int64{2, 2}, []int64{0, 0}, u.channels, []int64{1, 1}))
	h, w := y.MustSize()[2], y.MustSize()[3]
	y = s.T(y.MustNarrow(2, 1, h-2, false)) // [1:] then [:-1] (even filter)
	return y.MustNarrow(3, 1, w-2, false).MustContiguous(true)
}

// resBlock is ResnetBlock with reflection padding: x + (pad, conv, norm,
// ReLU, pad, conv, norm)(x). Variables "conv_block.1" and "conv_block.5".
type resBlock struct{ block sequential }

func newResBlock(p *gnn.Path, rng *rand.Rand, dim int64, gain float64) (*resBlock, error) {
	cb := p.Sub("conv_block")
	c1, err := newConv(cb.Sub("1"), rng, dim, dim, 3, 1, 0, true, gain)
	if err != nil {
		return nil, err
	}
	c2, err := newConv(cb.Sub("5"), rng, dim, dim, 3, 1, 0, true, gain)
	if err != nil {
		return nil, err
	}
	return &resBlock{block: sequential{pad{p: 1}, c1, instanceNorm{}, relu{}, pad{p: 1}, c2, instanceNorm{}}}, nil
}

func (r *resBlock) forward(x *ts.Tensor) *ts.Tensor {
	y := r.block.run(x)
	defer y.MustDrop()
	return x.MustAdd(y, false)
}

func errAt(what string, i int, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("translate: %s layer %d: %w", what, i, err)
}
