package optim

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// base holds what every optimizer shares: parameters, learning rate, weight
// decay, step count and per-parameter state slots.
type base struct {
	params []Param
	lr, wd float64
	steps  int64
	// slots[k][i] is state slot k (e.g. "exp_avg") of parameter i.
	slots map[string][]*ts.Tensor
}

func (b *base) LR() float64      { return b.lr }
func (b *base) SetLR(lr float64) { b.lr = lr }

func (b *base) ZeroGrad() {
	for _, p := range b.params {
		p.T.ZeroGrad()
	}
}

// slot returns state slot name of parameter i, creating it as zeros.
func (b *base) slot(name string, i int) *ts.Tensor {
	if b.slots == nil {
		b.slots = map[string][]*ts.Tensor{}
	}
	s, ok := b.slots[name]
	if !ok {
		s = make([]*ts.Tensor, len(b.params))
		b.slots[name] = s
	}
	if s[i] == nil {
		s[i] = b.params[i].T.MustZerosLike(false)
	}
	return s[i]
}

func (b *base) State() (map[string]*ts.Tensor, int64, error) {
	out := map[string]*ts.Tensor{}
	for name, s := range b.slots {
		for i, t := range s {
			if t != nil {
				c := t.MustZerosLike(false)
				c.Copy_(t)
				out[name+"/"+b.params[i].Name] = c
			}
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
		var slot, param string
		for j := 0; j < len(key); j++ {
			if key[j] == '/' {
				slot, param = key[:j], key[j+1:]
				break
			}
		}
		i, ok := index[param]
		if slot == "" || !ok {
			return fmt.Errorf("optimizer state %q names no parameter of this model: was the checkpoint written for another architecture?", key)
		}
		want := b.params[i].T.MustSize()
		if got := t.MustSize(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("optimizer state %q has shape %v, parameter has %v", key, got, want)
		}
		b.slot(slot, i).Copy_(t)
	}
	b.steps = steps
	return nil
}

func (b *base) Close() {
	for _, s := range b.slots {
		for i, t := range s {
			if t != nil {
				t.MustDrop()
				s[i] = nil
			}
		}
	}
	b.slots = nil
}

// grad returns the parameter's gradient with L2 weight decay added (a new
// tensor the caller frees), or nil when the parameter has no gradient.
func (b *base) grad(p Param, wd float64) *ts.Tensor {
	g := p.T.MustGrad(false)
	if !g.MustDefined() {
		g.MustDrop()
		return nil
	}
	if wd != 0 && !p.NoDecay {
		d := p.T.MustMulScalar(ts.FloatScalar(wd), false)
		g.MustAdd_(d)
		d.MustDrop()
	}
	return g
}
