package replay

import (
	"errors"
	"fmt"
)

// chunkFrames is how many frames one block of frame memory holds: the
// buffer grows and sheds memory a block at a time.
const chunkFrames = 256

// Config sizes a Buffer.
type Config struct {
	// Capacity is the number of transitions kept (the oldest go first).
	Capacity int
	// Stack is k, the frames of an observation (≥ 1).
	Stack int
	// Channels, Height and Width are one frame's shape (all 0: no pixels).
	Channels, Height, Width int
	// StateDim is the size of a state vector (0: no states).
	StateDim int
	// ActionDim is the size of an action (≥ 1).
	ActionDim int
}

func (c Config) frameLen() int { return c.Channels * c.Height * c.Width }

// Validate checks the sizes.
func (c Config) Validate() error {
	if c.Capacity < 1 || c.Stack < 1 || c.ActionDim < 1 || c.StateDim < 0 {
		return fmt.Errorf("replay: capacity %d, stack %d, action size %d, state size %d: want capacity, stack and action size ≥ 1, state size ≥ 0", c.Capacity, c.Stack, c.ActionDim, c.StateDim)
	}
	px := c.Channels != 0 || c.Height != 0 || c.Width != 0
	if px && (c.Channels < 1 || c.Height < 1 || c.Width < 1) {
		return fmt.Errorf("replay: frames of %d×%d×%d: want all three sizes ≥ 1 (or all 0 for no pixels)", c.Channels, c.Height, c.Width)
	}
	if !px && c.StateDim == 0 {
		return errors.New("replay: neither pixels nor states: give the frames' shape, a state size, or both")
	}
	return nil
}

// transition is one stored step: its observation's newest frame (a global
// frame number), the first frame of its episode, and what the step gave.
// The next observation ends one frame later.
type transition struct {
	last, start int64
	reward      float32
	notDone     float32
}

// Buffer keeps transitions with every frame stored once. It is not safe
// for concurrent use.
type Buffer struct {
	cfg Config
	// frames: global frame g is at chunk g/chunkFrames − first, offset
	// g%chunkFrames; pixels and states have the same chunking
	pix        [][]uint8
	states     [][]float32
	first      int64 // global chunk number of pix[0]
	next       int64 // global number of the next frame
	epStart    int64 // first frame of the current episode; −1 before Start
	tr         []transition
	actions    []float32 // Capacity × ActionDim, same slots as tr
	head, size int       // tr[head] is the next slot written
	added      int64     // transitions ever added
}

// New returns an empty buffer.
func New(cfg Config) (*Buffer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Buffer{cfg: cfg, epStart: -1, tr: make([]transition, cfg.Capacity), actions: make([]float32, cfg.Capacity*cfg.ActionDim)}, nil
}

// Config returns the buffer's sizes.
func (b *Buffer) Config() Config { return b.cfg }

// Len is the number of transitions held.
func (b *Buffer) Len() int { return b.size }

// Added is the number of transitions ever added.
func (b *Buffer) Added() int64 { return b.added }

// Bytes is the memory the buffer holds: frame blocks, states, the
// transitions and their actions.
func (b *Buffer) Bytes() int64 {
	n := int64(len(b.pix)) * int64(chunkFrames*b.cfg.frameLen())
	n += int64(len(b.states)) * int64(chunkFrames*b.cfg.StateDim*4)
	n += int64(len(b.tr))*24 + int64(len(b.actions))*4
	return n
}

// Start begins an episode with its first observation: frame is the newest
// frame (C×H×W, nil without pixels; with a frame-stack wrapper, the last
// C·H·W bytes of its observation) and state the state vector (nil without
// states).
func (b *Buffer) Start(frame []uint8, state []float64) error {
	if err := b.store(frame, state); err != nil {
		return err
	}
	b.epStart = b.next - 1
	return nil
}

// Add records the step from the current observation: the action taken,
// the reward, whether the episode terminated (a time limit is not a
// termination: the value of the next observation still counts, as CURL's
// "infinite bootstrap"), and the next observation's newest frame and
// state. The episode goes on from the next observation; call Start for a
// new one.
func (b *Buffer) Add(action []float64, reward float64, terminated bool, frame []uint8, state []float64) error {
	if b.epStart < 0 {
		return errors.New("replay: Add before Start: start the episode with its first observation")
	}
	if len(action) != b.cfg.ActionDim {
		return fmt.Errorf("replay: action of size %d, want %d", len(action), b.cfg.ActionDim)
	}
	last := b.next - 1
	if err := b.store(frame, state); err != nil {
		return err
	}
	nd := float32(1)
	if terminated {
		nd = 0
	}
	b.tr[b.head] = transition{last: last, start: b.epStart, reward: float32(reward), notDone: nd}
	a := b.actions[b.head*b.cfg.ActionDim : (b.head+1)*b.cfg.ActionDim]
	for i, v := range action {
		a[i] = float32(v)
	}
	b.head = (b.head + 1) % b.cfg.Capacity
	b.size = min(b.size+1, b.cfg.Capacity)
	b.added++
	b.shed()
	return nil
}

// store appends one frame and state.
func (b *Buffer) store(frame []uint8, state []float64) error {
	if fl := b.cfg.frameLen(); len(frame) != fl {
		return fmt.Errorf("replay: frame of %d bytes, want %d (%d×%d×%d)", len(frame), fl, b.cfg.Channels, b.cfg.Height, b.cfg.Width)
	}
	if len(state) != b.cfg.StateDim {
		return fmt.Errorf("replay: state of size %d, want %d", len(state), b.cfg.StateDim)
	}
	c, off := b.next/chunkFrames, int(b.next%chunkFrames)
	if off == 0 {
		if len(b.pix) == 0 {
			b.first = c
		}
		if fl := b.cfg.frameLen(); fl > 0 {
			b.pix = append(b.pix, make([]uint8, chunkFrames*fl))
		} else {
			b.pix = append(b.pix, nil)
		}
		if b.cfg.StateDim > 0 {
			b.states = append(b.states, make([]float32, chunkFrames*b.cfg.StateDim))
		} else {
			b.states = append(b.states, nil)
		}
	}
	i := int(c - b.first)
	copy(b.pix[i][off*len(frame):], frame)
	if d := b.cfg.StateDim; d > 0 {
		s := b.states[i][off*d : (off+1)*d]
		for j, v := range state {
			s[j] = float32(v)
		}
	}
	b.next++
	return nil
}

// oldest is the first frame any held transition needs.
func (b *Buffer) oldest() int64 {
	if b.size == 0 {
		return b.epStart
	}
	t := b.tr[b.slot(0)]
	return max(t.last-int64(b.cfg.Stack)+1, t.start)
}

// shed frees the frame blocks no held transition needs.
func (b *Buffer) shed() {
	keep := b.oldest() / chunkFrames
	for b.first < keep && len(b.pix) > 1 {
		b.pix[0], b.states[0] = nil, nil
		b.pix, b.states = b.pix[1:], b.states[1:]
		b.first++
	}
}

// slot is the ring slot of the i-th oldest held transition.
func (b *Buffer) slot(i int) int {
	return ((b.head-b.size+i)%b.cfg.Capacity + b.cfg.Capacity) % b.cfg.Capacity
}

// frame returns global frame g's pixels and state (nil when absent).
func (b *Buffer) frame(g int64) ([]uint8, []float32) {
	i, off := int(g/chunkFrames-b.first), int(g%chunkFrames)
	var px []uint8
	if fl := b.cfg.frameLen(); fl > 0 {
		px = b.pix[i][off*fl : (off+1)*fl]
	}
	var st []float32
	if d := b.cfg.StateDim; d > 0 {
		st = b.states[i][off*d : (off+1)*d]
	}
	return px, st
}
