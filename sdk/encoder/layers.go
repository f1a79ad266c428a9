package encoder

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// BatchNorm settings of PyTorch's nn.BatchNorm2d defaults.
const (
	bnMomentum = 0.1
	bnEps      = 1e-5
)

// convInit says how a convolution's weight is drawn from libtorch's global
// generator (so a seed set with backend.ManualSeed fixes it).
type convInit int

const (
	// pytorchDefault is nn.Conv2d's reset_parameters: kaiming_uniform_ with
	// a = sqrt(5), that is U(-b, b) with b = 1/sqrt(fan_in) computed in the
	// same floating-point order as torch.nn.init, so a seeded convnet-s has
	// bit-identical weights to the PyTorch reference under the same seed.
	pytorchDefault convInit = iota
	// torchvisionResNet is torchvision's ResNet init: kaiming_normal_ with
	// mode fan_out and a ReLU gain, N(0, sqrt(2/fan_out)).
	torchvisionResNet
)

// builder creates an encoder's variables in its VarStore under PyTorch
// state_dict names. With init false every variable is left at zero (Copy
// fills them from the source and draws nothing from the generator). The
// first error stops all further work and is reported by err.
type builder struct {
	dev  gotch.Device
	init bool
	bn   *bnConfig // shared with the trunk built
	err  error
}

// add registers x under name in p (as a trainable parameter or a buffer)
// and returns the VarStore's handle to it; x itself is freed.
func (b *builder) add(p *nn.Path, name string, x *ts.Tensor, trainable bool) *ts.Tensor {
	defer x.MustDrop()
	var opts []nn.AddOpt
	if !trainable {
		opts = append(opts, nn.WithVarType("buffer"))
	}
	v, err := p.Add(name, x, trainable, opts...)
	if err != nil {
		b.err = fmt.Errorf("add variable %s: %w", name, err)
		return nil
	}
	return v
}

// filled makes a float32 tensor of shape on the builder's device, filled
// with c.
func (b *builder) filled(shape []int64, c float64) *ts.Tensor {
	if b.err != nil {
		return nil
	}
	x, err := ts.Zeros(shape, gotch.Float, b.dev)
	if err == nil && c != 0 {
		err = fill_(x, c)
	}
	if err != nil {
		b.err = fmt.Errorf("allocate %v on %v: %w", shape, b.dev, err)
		return nil
	}
	return x
}

// conv is a bias-free 2-D convolution (all of our trunks' convolutions).
type conv struct {
	w               *ts.Tensor
	stride, padding int64
}

func (b *builder) conv(p *nn.Path, cin, cout, k, stride, padding int64, how convInit) *conv {
	shape := []int64{cout, cin, k, k}
	x := b.filled(shape, 0)
	if x == nil {
		return nil
	}
	if b.init {
		var err error
		switch how {
		case pytorchDefault:
			fanIn := float64(cin * k * k)
			slope := math.Sqrt(5)
			gain := math.Sqrt(2.0 / (1 + slope*slope))
			bound := math.Sqrt(3.0) * (gain / math.Sqrt(fanIn))
			err = uniform_(x, -bound, bound)
		case torchvisionResNet:
			fanOut := float64(cout * k * k)
			err = normal_(x, 0, math.Sqrt(2.0)/math.Sqrt(fanOut))
		}
		if err != nil {
			x.MustDrop()
			b.err = fmt.Errorf("initialise conv weight %v: %w", shape, err)
			return nil
		}
	}
	w := b.add(p, "weight", x, true)
	if w == nil {
		return nil
	}
	return &conv{w: w, stride: stride, padding: padding}
}

func (c *conv) forward(x *ts.Tensor) (*ts.Tensor, error) {
	return conv2d(x, c.w, c.stride, c.padding)
}

// batchNorm is nn.BatchNorm2d with PyTorch's defaults (weight 1, bias 0,
// momentum 0.1, eps 1e-5, tracked running statistics) and its buffers,
// num_batches_tracked included.
type batchNorm struct {
	w, b, mean, variance, batches *ts.Tensor
	cfg                           *bnConfig // the trunk's
}

func (b *builder) batchNorm(p *nn.Path, c int64) *batchNorm {
	// PyTorch's initial values are constants, so init does not matter here.
	bn := &batchNorm{cfg: b.bn}
	if x := b.filled([]int64{c}, 1); x != nil {
		bn.w = b.add(p, "weight", x, true)
	}
	if x := b.filled([]int64{c}, 0); x != nil {
		bn.b = b.add(p, "bias", x, true)
	}
	if x := b.filled([]int64{c}, 0); x != nil {
		bn.mean = b.add(p, "running_mean", x, false)
	}
	if x := b.filled([]int64{c}, 1); x != nil {
		bn.variance = b.add(p, "running_var", x, false)
	}
	if b.err != nil {
		return nil
	}
	n, err := tensor.FromInt64([]int64{0}) // a 0-d int64, as PyTorch saves it
	if err == nil && !b.dev.IsCuda() {
		bn.batches = b.add(p, "num_batches_tracked", n, false)
		return bn
	}
	if err == nil {
		var d *ts.Tensor
		d, err = n.To(b.dev, true)
		if err == nil {
			bn.batches = b.add(p, "num_batches_tracked", d, false)
			return bn
		}
	}
	b.err = fmt.Errorf("allocate num_batches_tracked: %w", err)
	return nil
}

// forward normalises x with batch statistics (updating the running ones and
// counting the batch) when train is set, else with the running statistics.
func (bn *batchNorm) forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	if train && bn.cfg != nil && bn.cfg.splits > 1 {
		return bn.forwardSplit(x, int64(bn.cfg.splits))
	}
	y, err := batchNorm2d(x, bn.w, bn.b, bn.mean, bn.variance, train)
	if err != nil {
		return nil, err
	}
	if train {
		if err := addInt_(bn.batches, 1); err != nil {
			y.MustDrop()
			return nil, fmt.Errorf("count batch: %w", err)
		}
	}
	return y, nil
}

// convBN runs conv then batch norm (then an in-place ReLU when relu is set)
// and returns a new tensor; intermediates are freed.
func convBN(c *conv, bn *batchNorm, x *ts.Tensor, train, relu bool) (*ts.Tensor, error) {
	h, err := c.forward(x)
	if err != nil {
		return nil, err
	}
	y, err := bn.forward(h, train)
	h.MustDrop()
	if err != nil {
		return nil, err
	}
	if relu {
		if err := relu_(y); err != nil {
			y.MustDrop()
			return nil, err
		}
	}
	return y, nil
}
