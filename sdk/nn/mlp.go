package nn

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MLPConfig describes a stack of Linear layers: Linear(Dims[0], Dims[1]),
// then for each further dimension [BN] ReLU Linear, so a projector
// Linear(128,128)-BN-ReLU-Linear(128,64) is Dims {128, 128, 64} with
// BatchNorm.
type MLPConfig struct {
	// Dims are the input, hidden and output dimensions (at least two).
	Dims []int64
	// BatchNorm puts a BatchNorm after every hidden Linear, before its ReLU.
	BatchNorm bool
	// NoHiddenBias drops the bias of hidden Linears (a BatchNorm follows).
	NoHiddenBias bool
	// LastBN puts a BatchNorm after the output Linear (MoCo v3, BYOL-style
	// projectors); LastBNAffine makes it learn a scale and shift.
	LastBN       bool
	LastBNAffine bool
}

// Projector is the SimCLR/MoCo v2 projection head Linear(in, hidden)-BN-
// ReLU-Linear(hidden, out).
func Projector(in, hidden, out int64) MLPConfig {
	return MLPConfig{Dims: []int64{in, hidden, out}, BatchNorm: true}
}

// Predictor is the BYOL/MoCo v3 prediction head; it has the shape of a
// Projector.
func Predictor(in, hidden, out int64) MLPConfig { return Projector(in, hidden, out) }

// MLP is a head built from an MLPConfig. Variables are named "<i>.weight",
// "<i>.bias" for the i-th Linear and "bn<i>.*" for the BatchNorm after it.
type MLP struct {
	cfg     MLPConfig
	linears []*Linear
	norms   []*BatchNorm // norms[i] follows linears[i]; nil where none
}

// NewMLP adds an MLP's variables under p, initialised from rng.
func NewMLP(p *gnn.Path, rng *rand.Rand, cfg MLPConfig) (*MLP, error) {
	if len(cfg.Dims) < 2 {
		return nil, fmt.Errorf("mlp needs at least an input and an output dimension, got %v", cfg.Dims)
	}
	m := &MLP{cfg: cfg}
	last := len(cfg.Dims) - 2
	for i := 0; i <= last; i++ {
		in, out := cfg.Dims[i], cfg.Dims[i+1]
		bias := i == last || !cfg.NoHiddenBias
		l, err := NewLinear(p.Sub(strconv.Itoa(i)), rng, in, out, bias)
		if err != nil {
			return nil, fmt.Errorf("mlp layer %d: %w", i, err)
		}
		m.linears = append(m.linears, l)
		var bn *BatchNorm
		switch {
		case i < last && cfg.BatchNorm:
			bn, err = NewBatchNorm(p.Sub("bn"+strconv.Itoa(i)), out, true)
		case i == last && cfg.LastBN:
			bn, err = NewBatchNorm(p.Sub("bn"+strconv.Itoa(i)), out, cfg.LastBNAffine)
		}
		if err != nil {
			return nil, fmt.Errorf("mlp batch norm %d: %w", i, err)
		}
		m.norms = append(m.norms, bn)
	}
	return m, nil
}

// OutDim is the output dimension.
func (m *MLP) OutDim() int64 { return m.cfg.Dims[len(m.cfg.Dims)-1] }

// Forward maps x [N, Dims[0]] to [N, OutDim]; BatchNorms use batch
// statistics when train. The caller owns the result; x is left alone.
func (m *MLP) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	h := x
	next := func(y *ts.Tensor) {
		if h != x {
			h.MustDrop()
		}
		h = y
	}
	last := len(m.linears) - 1
	for i, l := range m.linears {
		next(l.Forward(h))
		if bn := m.norms[i]; bn != nil {
			next(bn.Forward(h, train))
		}
		if i < last {
			next(h.MustRelu(false))
		}
	}
	return h
}
