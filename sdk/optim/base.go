package optim

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
)

// base holds what every optimizer shares: parameters, learning rate, weight
// decay, step count and per-parameter state slots.
type base struct {
	params []Param
	lr, wd float64
	steps  int64
	// state[k][i] is state slot k (e.g. "exp_avg") of parameter i.
	state map[string][]*ts.Tensor
}

func (b *base) LR() float64      { return b.lr }
func (b *base) SetLR(lr float64) { b.lr = lr }

func (b *base) WeightDecay() float64      { return b.wd }
func (b *base) SetWeightDecay(wd float64) { b.wd = wd }

func (b *base) ZeroGrad() {
	if err := backend.ZeroGrad(b.tensors()); err != nil {
		panic(fmt.Sprintf("optim: zero grad: %v", err)) // only fails on corrupt handles
	}
}

func (b *base) tensors() []*ts.Tensor { return Tensors(b.params) }

func (b *base) noDecay() []bool {
	out := make([]bool, len(b.params))
	for i, p := range b.params {
		out[i] = p.NoDecay
	}
	return out
}

// slots returns state slot name for every parameter, made as zeros the
// first time.
func (b *base) slots(name string) []*ts.Tensor {
	if b.state == nil {
		b.state = map[string][]*ts.Tensor{}
	}
	s, ok := b.state[name]
	if !ok {
		s = make([]*ts.Tensor, len(b.params))
		for i, p := range b.params {
			s[i] = p.T.MustZerosLike(false)
		}
		b.state[name] = s
	}
	return s
}

func (b *base) State() (map[string]*ts.Tensor, int64, error) {
	out := map[string]*ts.Tensor{}
	for name, s := range b.state {
		for i, t := range s {
			c := t.MustZerosLike(false)
			if err := backend.Copy([]*ts.Tensor{c}, []*ts.Tensor{t}); err != nil {
				return nil, 0, err
			}
			out[name+"/"+b.params[i].Name] = c
		}
	}
	return out, b.steps, nil
}

func (b *base) SetState(state map[string]*ts.Tensor, steps int64) error {
	b.Close()
	index := map[string]int{}
	for i, p := range b.params {
		index[p.Name] = i
	}
	for key, t := range state {
		slot, param, _ := strings.Cut(key, "/")
		i, ok := index[param]
		if slot == "" || !ok {
			return fmt.Errorf("optimizer state %q names no parameter of this model: was the checkpoint written for another architecture?", key)
		}
		want := b.params[i].T.MustSize()
		if got := t.MustSize(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("optimizer state %q has shape %v, parameter has %v", key, got, want)
		}
		if err := backend.Copy([]*ts.Tensor{b.slots(slot)[i]}, []*ts.Tensor{t}); err != nil {
			return err
		}
	}
	b.steps = steps
	return nil
}

func (b *base) Close() {
	for _, s := range b.state {
		for _, t := range s {
			t.MustDrop()
		}
	}
	b.state = nil
}
