package replay

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Batch is a sample of transitions, row-major, ready to become tensors.
type Batch struct {
	// N is the number of transitions.
	N int
	// Channels, Height and Width are one observation's shape after the
	// crop: Channels = Stack × the frames' channels.
	Channels, Height, Width int
	// Obs and Next are the observations and next observations,
	// [N, Channels, Height, Width] (nil without pixels); Pos, when asked
	// for, is a second crop of Obs with windows of its own (CURL's
	// positive).
	Obs, Next, Pos []uint8
	// State and NextState are [N, StateDim] (nil without states).
	State, NextState []float32
	// Action is [N, ActionDim].
	Action []float32
	// Reward and NotDone are [N]; NotDone is 0 where the episode
	// terminated.
	Reward, NotDone []float32
}

// Options say what Sample cuts and returns.
type Options struct {
	// Crop cuts Obs and Next (each with its own window, as CURL crops
	// obses and next_obses independently) and Pos.
	Crop Crop
	// Positives asks for Pos.
	Positives bool
}

// Sample draws n transitions uniformly (with replacement) with rng and
// gathers them. The draws, in order, are the n indices, then per
// transition the windows of Obs, Next and Pos; the same rng state gives
// the same batch.
func (b *Buffer) Sample(rng *rand.Rand, n int, o Options) (*Batch, error) {
	if b.size == 0 {
		return nil, errors.New("replay: Sample from an empty buffer: add transitions first")
	}
	if n < 1 {
		return nil, fmt.Errorf("replay: sample of %d transitions: want ≥ 1", n)
	}
	px := b.cfg.frameLen() > 0
	if px {
		if err := o.Crop.check(b.cfg.Height, b.cfg.Width); err != nil {
			return nil, err
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = rng.IntN(b.size)
	}
	k, c, h, w := b.cfg.Stack, b.cfg.Channels, b.cfg.Height, b.cfg.Width
	oh, ow := o.Crop.out(h, w)
	bt := &Batch{N: n, Channels: k * c, Height: oh, Width: ow}
	obsLen := k * c * oh * ow
	if px {
		bt.Obs, bt.Next = make([]uint8, n*obsLen), make([]uint8, n*obsLen)
		if o.Positives {
			bt.Pos = make([]uint8, n*obsLen)
		}
	}
	if d := b.cfg.StateDim; d > 0 {
		bt.State, bt.NextState = make([]float32, n*d), make([]float32, n*d)
	}
	a := b.cfg.ActionDim
	bt.Action, bt.Reward, bt.NotDone = make([]float32, n*a), make([]float32, n), make([]float32, n)
	frameOut := c * oh * ow
	for i, j := range idx {
		s := b.slot(j)
		t := b.tr[s]
		copy(bt.Action[i*a:(i+1)*a], b.actions[s*a:(s+1)*a])
		bt.Reward[i], bt.NotDone[i] = t.reward, t.notDone
		if d := b.cfg.StateDim; d > 0 {
			_, st := b.frame(t.last)
			copy(bt.State[i*d:], st)
			_, st = b.frame(t.last + 1)
			copy(bt.NextState[i*d:], st)
		}
		if !px {
			continue
		}
		for v, dst := range [][]uint8{bt.Obs, bt.Next, bt.Pos} {
			if dst == nil {
				continue
			}
			last := t.last
			if v == 1 {
				last++
			}
			top, left := o.Crop.window(rng, h, w)
			out := dst[i*obsLen : (i+1)*obsLen]
			for f := range k {
				g := max(last-int64(k-1-f), t.start)
				src, _ := b.frame(g)
				o.Crop.cut(out[f*frameOut:(f+1)*frameOut], src, c, h, w, top, left)
			}
		}
	}
	return bt, nil
}
