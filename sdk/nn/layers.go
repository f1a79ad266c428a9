package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// NewRand returns the seeded Go generator that initialises heads.
func NewRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x5e1f5))
}

// Uniform returns a float32 tensor of shape on dev with values drawn
// uniformly from [lo, hi) by rng.
func Uniform(rng *rand.Rand, lo, hi float64, dev gotch.Device, shape ...int64) (*ts.Tensor, error) {
	v := make([]float32, tensor.Numel(shape))
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return onDevice(v, dev, shape)
}

// Normal returns a float32 tensor of shape on dev with standard normal
// values drawn by rng.
func Normal(rng *rand.Rand, dev gotch.Device, shape ...int64) (*ts.Tensor, error) {
	v := make([]float32, tensor.Numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return onDevice(v, dev, shape)
}

// Filled returns a float32 tensor of shape on dev with every value c.
func Filled(c float32, dev gotch.Device, shape ...int64) (*ts.Tensor, error) {
	v := make([]float32, tensor.Numel(shape))
	for i := range v {
		v[i] = c
	}
	return onDevice(v, dev, shape)
}

func onDevice(v []float32, dev gotch.Device, shape []int64) (*ts.Tensor, error) {
	x, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		return nil, err
	}
	if dev == gotch.CPU {
		return x, nil
	}
	return x.MustTo(dev, true), nil
}

// AddParam adds x to p under name as a trainable parameter; the store keeps
// its own handle, so x is dropped.
func AddParam(p *gnn.Path, name string, x *ts.Tensor) (*ts.Tensor, error) {
	defer x.MustDrop()
	v, err := p.Add(name, x, true)
	if err != nil {
		return nil, fmt.Errorf("add parameter %s: %w", name, err)
	}
	return v, nil
}

// AddBuffer adds x to p under name as a persistent, non-trainable buffer; x
// is dropped.
func AddBuffer(p *gnn.Path, name string, x *ts.Tensor) (*ts.Tensor, error) {
	defer x.MustDrop()
	v, err := p.Add(name, x, false, gnn.WithVarType("buffer"))
	if err != nil {
		return nil, fmt.Errorf("add buffer %s: %w", name, err)
	}
	return v, nil
}

// Linear is y = x Wᵀ + b, initialised as PyTorch's nn.Linear (weight and
// bias uniform in ±1/sqrt(in)). Variables: "weight" [out, in], "bias" [out].
type Linear struct {
	W, B *ts.Tensor // B is nil without bias
}

// NewLinear adds a Linear layer's variables under p.
func NewLinear(p *gnn.Path, rng *rand.Rand, in, out int64, bias bool) (*Linear, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("linear layer %d -> %d: dimensions must be positive", in, out)
	}
	bound := 1 / math.Sqrt(float64(in))
	dev := p.Device()
	w, err := Uniform(rng, -bound, bound, dev, out, in)
	if err != nil {
		return nil, err
	}
	l := &Linear{}
	if l.W, err = AddParam(p, "weight", w); err != nil {
		return nil, err
	}
	if bias {
		b, err := Uniform(rng, -bound, bound, dev, out)
		if err != nil {
			return nil, err
		}
		if l.B, err = AddParam(p, "bias", b); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Forward returns x Wᵀ + b for x [N, in]; the caller owns the result.
func (l *Linear) Forward(x *ts.Tensor) *ts.Tensor {
	if l.B != nil {
		return ts.MustLinear(x, l.W, l.B)
	}
	wt := l.W.MustT(false)
	defer wt.MustDrop()
	return x.MustMatmul(wt, false)
}

// BatchNorm normalises [N, C] features over the batch as PyTorch's
// nn.BatchNorm1d (eps 1e-5, momentum 0.1). Variables: "weight", "bias"
// (parameters, or constant 1 and 0 buffers when not affine),
// "running_mean", "running_var".
type BatchNorm struct {
	W, B, Mean, Var *ts.Tensor
}

// NewBatchNorm adds a BatchNorm layer over c channels under p.
func NewBatchNorm(p *gnn.Path, c int64, affine bool) (*BatchNorm, error) {
	if c <= 0 {
		return nil, fmt.Errorf("batch norm over %d channels: must be positive", c)
	}
	dev := p.Device()
	add := AddParam
	if !affine {
		add = AddBuffer
	}
	bn := &BatchNorm{}
	for _, v := range []struct {
		name string
		fill float32
		dst  **ts.Tensor
		add  func(*gnn.Path, string, *ts.Tensor) (*ts.Tensor, error)
	}{
		{"weight", 1, &bn.W, add},
		{"bias", 0, &bn.B, add},
		{"running_mean", 0, &bn.Mean, AddBuffer},
		{"running_var", 1, &bn.Var, AddBuffer},
	} {
		x, err := Filled(v.fill, dev, c)
		if err != nil {
			return nil, err
		}
		if *v.dst, err = v.add(p, v.name, x); err != nil {
			return nil, err
		}
	}
	return bn, nil
}

// Forward normalises x with batch statistics (and updates the running ones)
// when train, else with the running statistics. The caller owns the result.
func (bn *BatchNorm) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	return ts.MustBatchNorm(x, bn.W, bn.B, bn.Mean, bn.Var, train, 0.1, 1e-5, false)
}
