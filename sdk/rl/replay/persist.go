package replay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// magic opens a written buffer (format version 1).
const magic = "selfsup-replay-1"

// header is everything of a Buffer but its slices.
type header struct {
	Capacity, Stack, Channels, Height, Width, StateDim, ActionDim int64
	First, Next, EpStart, Head, Size, Added, Chunks               int64
}

// WriteTo writes the whole buffer (frames, states, transitions and the
// episode under way) so that ReadFrom restores it exactly.
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriterSize(w, 1<<20)}
	c := b.cfg
	h := header{int64(c.Capacity), int64(c.Stack), int64(c.Channels), int64(c.Height), int64(c.Width), int64(c.StateDim), int64(c.ActionDim),
		b.first, b.next, b.epStart, int64(b.head), int64(b.size), b.added, int64(len(b.pix))}
	last := make([]int64, 2*len(b.tr))
	vals := make([]float32, 2*len(b.tr))
	for i, t := range b.tr {
		last[2*i], last[2*i+1] = t.last, t.start
		vals[2*i], vals[2*i+1] = t.reward, t.notDone
	}
	parts := []any{[]byte(magic), &h, last, vals, b.actions}
	for i := range b.pix {
		if b.pix[i] != nil {
			parts = append(parts, b.pix[i])
		}
		if b.states[i] != nil {
			parts = append(parts, b.states[i])
		}
	}
	for _, p := range parts {
		if err := binary.Write(cw, binary.LittleEndian, p); err != nil {
			return cw.n, fmt.Errorf("replay: write: %w", err)
		}
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

// ReadFrom replaces the buffer with one WriteTo wrote. The buffer's own
// sizes must match the written ones.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	cr := &countReader{r: bufio.NewReaderSize(r, 1<<20)}
	m := make([]byte, len(magic))
	var h header
	if err := errors.Join(binary.Read(cr, binary.LittleEndian, m), binary.Read(cr, binary.LittleEndian, &h)); err != nil {
		return cr.n, fmt.Errorf("replay: read: %w", err)
	}
	if string(m) != magic {
		return cr.n, fmt.Errorf("replay: not a replay buffer file (starts %q, want %q)", m, magic)
	}
	c := b.cfg
	got := Config{int(h.Capacity), int(h.Stack), int(h.Channels), int(h.Height), int(h.Width), int(h.StateDim), int(h.ActionDim)}
	if got != c {
		return cr.n, fmt.Errorf("replay: the file holds a buffer of %+v, this one is %+v: resume with the settings of the run that wrote it", got, c)
	}
	if h.Chunks < 0 || h.Size < 0 || h.Size > h.Capacity || h.Head < 0 || h.Head >= h.Capacity {
		return cr.n, fmt.Errorf("replay: corrupt header %+v", h)
	}
	last := make([]int64, 2*c.Capacity)
	vals := make([]float32, 2*c.Capacity)
	actions := make([]float32, c.Capacity*c.ActionDim)
	if err := errors.Join(binary.Read(cr, binary.LittleEndian, last), binary.Read(cr, binary.LittleEndian, vals), binary.Read(cr, binary.LittleEndian, actions)); err != nil {
		return cr.n, fmt.Errorf("replay: read transitions: %w", err)
	}
	pix, states := make([][]uint8, h.Chunks), make([][]float32, h.Chunks)
	for i := range pix {
		if fl := c.frameLen(); fl > 0 {
			pix[i] = make([]uint8, chunkFrames*fl)
			if err := binary.Read(cr, binary.LittleEndian, pix[i]); err != nil {
				return cr.n, fmt.Errorf("replay: read frames: %w", err)
			}
		}
		if c.StateDim > 0 {
			states[i] = make([]float32, chunkFrames*c.StateDim)
			if err := binary.Read(cr, binary.LittleEndian, states[i]); err != nil {
				return cr.n, fmt.Errorf("replay: read states: %w", err)
			}
		}
	}
	for i := range b.tr {
		b.tr[i] = transition{last: last[2*i], start: last[2*i+1], reward: vals[2*i], notDone: vals[2*i+1]}
	}
	b.actions, b.pix, b.states = actions, pix, states
	b.first, b.next, b.epStart = h.First, h.Next, h.EpStart
	b.head, b.size, b.added = int(h.Head), int(h.Size), h.Added
	return cr.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
