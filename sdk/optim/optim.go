// Package optim holds the optimizers selfsup trains with — Adam (and AdamW),
// SGD with momentum, and LARS — and learning-rate schedules. They follow
// PyTorch's update rules step for step, and unlike libtorch's C++
// optimizers (which gotch wraps without a way to read their state) their
// whole state is named tensors, so a checkpoint resumes exactly.
package optim

import (
	"fmt"
	"sort"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Param is one trainable tensor with a stable name.
type Param struct {
	Name string
	T    *ts.Tensor
	// NoDecay excludes the parameter from weight decay and LARS adaptation
	// (biases and normalisation parameters).
	NoDecay bool
}

// Params lists the trainable tensors of a VarStore in name order (gotch's
// own TrainableVariables has map order, which would scramble optimizer
// state). One-dimensional tensors (biases, BN weights) are marked NoDecay.
func Params(vs *nn.VarStore) []Param {
	vars := vs.Variables()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var ps []Param
	for _, n := range names {
		v := vars[n]
		t := &v
		if !t.MustRequiresGrad() {
			continue
		}
		ps = append(ps, Param{Name: n, T: t, NoDecay: len(t.MustSize()) <= 1})
	}
	return ps
}

// DecayAll clears NoDecay on every parameter of ps (in place) and returns
// ps: weight decay then applies to biases and normalisation weights too, as
// in torch.optim.Adam(model.parameters(), weight_decay=wd).
func DecayAll(ps []Param) []Param {
	for i := range ps {
		ps[i].NoDecay = false
	}
	return ps
}

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update from the parameters' current gradients.
	Step() error
	// ZeroGrad clears the parameters' gradients.
	ZeroGrad()
	// LR is the learning rate the next Step uses.
	LR() float64
	// SetLR sets the learning rate (schedules call it every step).
	SetLR(lr float64)
	// WeightDecay is the weight decay the next Step applies to the
	// parameters that are not NoDecay.
	WeightDecay() float64
	// SetWeightDecay sets that weight decay (a schedule such as DINO's
	// cosine from 0.04 to 0.4 calls it every step); NoDecay parameters
	// stay undecayed, as main_dino.py's unregularized param group.
	SetWeightDecay(wd float64)
	// State returns the optimizer's state as named tensors (copies the
	// caller must free) plus its step count.
	State() (map[string]*ts.Tensor, int64, error)
	// SetState restores State's output (the optimizer copies the tensors).
	SetState(state map[string]*ts.Tensor, steps int64) error
	// Close frees the optimizer's state tensors.
	Close()
}

// Config chooses and configures an optimizer; zero values take PyTorch's
// (or the paper's) defaults.
type Config struct {
	// Name is "adam", "adamw", "sgd" or "lars".
	Name string `json:"name" yaml:"name"`
	// LR is the base learning rate.
	LR float64 `json:"lr" yaml:"lr"`
	// WeightDecay is L2 (adam, sgd, lars) or decoupled (adamw) decay.
	WeightDecay float64 `json:"weight_decay,omitempty" yaml:"weight_decay,omitempty"`
	// Momentum for sgd and lars (default 0.9).
	Momentum float64 `json:"momentum,omitempty" yaml:"momentum,omitempty"`
	// Nesterov momentum for sgd.
	Nesterov bool `json:"nesterov,omitempty" yaml:"nesterov,omitempty"`
	// Beta1, Beta2, Eps for adam/adamw (defaults 0.9, 0.999, 1e-8).
	Beta1 float64 `json:"beta1,omitempty" yaml:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty" yaml:"beta2,omitempty"`
	Eps   float64 `json:"eps,omitempty" yaml:"eps,omitempty"`
	// Eta is LARS's trust coefficient (default 0.02, as solo-learn).
	Eta float64 `json:"eta,omitempty" yaml:"eta,omitempty"`
}

// New builds the optimizer cfg names over params.
func New(cfg Config, params []Param) (Optimizer, error) {
	if cfg.LR <= 0 {
		return nil, fmt.Errorf("optimizer %q: learning rate %v must be positive", cfg.Name, cfg.LR)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("optimizer %q: no trainable parameters", cfg.Name)
	}
	or := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	switch cfg.Name {
	case "adam", "adamw", "":
		return &adam{base: base{params: params, lr: cfg.LR, wd: cfg.WeightDecay},
			b1: or(cfg.Beta1, 0.9), b2: or(cfg.Beta2, 0.999), eps: or(cfg.Eps, 1e-8),
			decoupled: cfg.Name == "adamw"}, nil
	case "sgd":
		return &sgd{base: base{params: params, lr: cfg.LR, wd: cfg.WeightDecay},
			momentum: cfg.Momentum, nesterov: cfg.Nesterov}, nil
	case "lars":
		return &sgd{base: base{params: params, lr: cfg.LR, wd: cfg.WeightDecay},
			momentum: or(cfg.Momentum, 0.9), lars: true, eta: or(cfg.Eta, 0.02)}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q: use adam, adamw, sgd or lars", cfg.Name)
}

// Tensors returns the parameters' tensors, in order.
func Tensors(ps []Param) []*ts.Tensor {
	out := make([]*ts.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.T
	}
	return out
}
