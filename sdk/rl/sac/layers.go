package sac

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// orthogonal is PyTorch's nn.init.orthogonal_ for a rows×cols matrix:
// the Q of the QR decomposition of a Gaussian matrix (transposed first
// when it is wide), its columns' signs fixed by R's diagonal, times gain.
// The Gaussian values come from rng, so the same seed gives the same
// weights. The caller owns the result.
func orthogonal(rng *rand.Rand, rows, cols int64, gain float64) (*ts.Tensor, error) {
	r, c := rows, cols
	if rows < cols {
		r, c = cols, rows
	}
	g, err := nn.Normal(rng, gotch.CPU, r, c)
	if err != nil {
		return nil, err
	}
	s := tensor.NewScope()
	defer s.Close()
	s.T(g)
	q, rr := ts.MustLinalgQr(g, "reduced")
	s.T(q)
	s.T(rr)
	sign := s.T(s.T(rr.MustDiagonal(0, 0, 1, false)).MustSign(false))
	q = s.T(q.MustMul(sign, false))
	if rows < cols {
		q = s.T(q.MustT(false))
	}
	return q.MustMulScalar(ts.FloatScalar(gain), false).MustContiguous(true), nil
}

// linear is y = x Wᵀ + b with CURL's weight_init: W orthogonal, b 0.
type linear struct{ w, b *ts.Tensor }

func newLinear(p *gnn.Path, rng *rand.Rand, in, out int64) (*linear, error) {
	w, err := orthogonal(rng, out, in, 1)
	if err != nil {
		return nil, err
	}
	l := &linear{}
	if l.w, err = nn.AddParam(p, "weight", w.MustTo(p.Device(), true)); err != nil {
		return nil, err
	}
	b, err := nn.Filled(0, p.Device(), out)
	if err != nil {
		return nil, err
	}
	l.b, err = nn.AddParam(p, "bias", b)
	return l, err
}

func (l *linear) forward(x *ts.Tensor) *ts.Tensor { return ts.MustLinear(x, l.w, l.b) }

// conv is a 3×3 convolution without padding, with CURL's delta-orthogonal
// init (zero but the kernel's centre, an orthogonal out×in matrix times
// ReLU's gain √2; bias 0).
type conv struct {
	w, b   *ts.Tensor
	stride int64
}

func newConv(p *gnn.Path, rng *rand.Rand, in, out, stride int64) (*conv, error) {
	q, err := orthogonal(rng, out, in, math.Sqrt2)
	if err != nil {
		return nil, err
	}
	vals, err := tensor.Float32s(q)
	q.MustDrop()
	if err != nil {
		return nil, err
	}
	k := make([]float32, out*in*9)
	for o := range out {
		for i := range in {
			k[(o*in+i)*9+4] = vals[o*in+i]
		}
	}
	w, err := tensor.FromFloat32(k, out, in, 3, 3)
	if err != nil {
		return nil, err
	}
	c := &conv{stride: stride}
	if c.w, err = nn.AddParam(p, "weight", w.MustTo(p.Device(), true)); err != nil {
		return nil, err
	}
	b, err := nn.Filled(0, p.Device(), out)
	if err != nil {
		return nil, err
	}
	c.b, err = nn.AddParam(p, "bias", b)
	return c, err
}

// forward convolves x; with bf16 x is bfloat16 and so are the weights
// used (cast from the float32 parameters, gradients flowing back through
// the cast).
func (c *conv) forward(x *ts.Tensor, bf16 bool) *ts.Tensor {
	w, b := c.w, c.b
	if bf16 {
		w, b = c.w.MustTotype(gotch.BFloat16, false), c.b.MustTotype(gotch.BFloat16, false)
		defer w.MustDrop()
		defer b.MustDrop()
	}
	return ts.MustConv2d(x, w, b, []int64{c.stride, c.stride}, []int64{0, 0}, []int64{1, 1}, 1)
}

// layerNorm is nn.LayerNorm(d) (eps 1e-5, weight 1, bias 0).
type layerNorm struct {
	w, b *ts.Tensor
	d    int64
}

func newLayerNorm(p *gnn.Path, d int64) (*layerNorm, error) {
	w, err := nn.Filled(1, p.Device(), d)
	if err != nil {
		return nil, err
	}
	l := &layerNorm{d: d}
	if l.w, err = nn.AddParam(p, "weight", w); err != nil {
		return nil, err
	}
	b, err := nn.Filled(0, p.Device(), d)
	if err != nil {
		return nil, err
	}
	l.b, err = nn.AddParam(p, "bias", b)
	return l, err
}

func (l *layerNorm) forward(x *ts.Tensor) *ts.Tensor {
	return ts.MustLayerNorm(x, []int64{l.d}, l.w, l.b, 1e-5, false)
}

// mlp is Linear–ReLU–Linear–ReLU–Linear (CURL's actor and Q trunks),
// variables "trunk.0", "trunk.2", "trunk.4" as in its state_dict.
type mlp struct{ l [3]*linear }

func newMLP(p *gnn.Path, rng *rand.Rand, in, hidden, out int64) (*mlp, error) {
	m := &mlp{}
	dims := [4]int64{in, hidden, hidden, out}
	for i := range 3 {
		var err error
		if m.l[i], err = newLinear(p.Sub("trunk").Sub(fmt.Sprint(2*i)), rng, dims[i], dims[i+1]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *mlp) forward(x *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(s.T(m.l[0].forward(x)).MustRelu(false))
	h = s.T(s.T(m.l[1].forward(h)).MustRelu(false))
	return m.l[2].forward(h)
}
