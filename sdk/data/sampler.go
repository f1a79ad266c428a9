package data

import "fmt"

// SamplerOptions says how a Sampler batches indices.
type SamplerOptions struct {
	BatchSize int    // indices per batch; must be > 0
	DropLast  bool   // drop each epoch's last batch when it is short
	Shuffle   bool   // a new permutation each epoch; otherwise 0..N-1
	Seed      uint64 // with the epoch, picks the permutation
}

// Position is where a Sampler stands: the next batch it yields is batch
// Batch of epoch Epoch. Save it with a checkpoint and pass it to Seek to
// resume with exactly the same batches.
type Position struct {
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
}

// Batch is one batch of indices and where it sits in the stream.
type Batch struct {
	Position       // the epoch and index of this batch within it
	Indices  []int // indices into the data set
}

// Sampler yields epochs of batches of indices into a data set of N
// items, deterministically: epoch e is cut from Permutation(N, Seed, e)
// (or the identity without shuffling), so the batches depend only on
// (N, options, epoch, batch) and never on what came before. A Sampler is
// for use from one goroutine.
type Sampler struct {
	n    int
	opts SamplerOptions
	pos  Position
	perm []int // permutation of pos.Epoch, made on demand
	made int   // epoch perm belongs to; -1 when none
}

// NewSampler returns a Sampler over n items, positioned at the start of
// epoch 0.
func NewSampler(n int, opts SamplerOptions) (*Sampler, error) {
	if n < 0 {
		return nil, fmt.Errorf("data: sampler over %d items; want n >= 0", n)
	}
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("data: sampler batch size %d; want a batch size > 0", opts.BatchSize)
	}
	s := &Sampler{n: n, opts: opts, made: -1}
	if s.BatchesPerEpoch() == 0 {
		return nil, fmt.Errorf("data: sampler over %d items with batch size %d and drop-last yields no batches; use a smaller batch size or more data", n, opts.BatchSize)
	}
	return s, nil
}

// BatchesPerEpoch returns the number of batches in one epoch.
func (s *Sampler) BatchesPerEpoch() int {
	if s.opts.DropLast {
		return s.n / s.opts.BatchSize
	}
	return (s.n + s.opts.BatchSize - 1) / s.opts.BatchSize
}

// Position returns the position of the next batch.
func (s *Sampler) Position() Position { return s.pos }

// Seek moves the sampler so that the next batch is the one at p.
// A batch index equal to BatchesPerEpoch means the start of the next epoch.
func (s *Sampler) Seek(p Position) error {
	if p.Epoch < 0 || p.Batch < 0 || p.Batch > s.BatchesPerEpoch() {
		return fmt.Errorf("data: sampler seek to epoch %d batch %d; want epoch >= 0 and batch in [0, %d]",
			p.Epoch, p.Batch, s.BatchesPerEpoch())
	}
	if p.Batch == s.BatchesPerEpoch() {
		p = Position{Epoch: p.Epoch + 1}
	}
	s.pos = p
	return nil
}

// Next returns the next batch and advances, moving on to the next epoch
// after the last batch of one. The stream never ends; stop after as
// many steps or epochs as you need. The returned Indices are a fresh
// slice the caller may keep.
func (s *Sampler) Next() Batch {
	b := Batch{Position: s.pos, Indices: s.indices(s.pos)}
	s.pos.Batch++
	if s.pos.Batch >= s.BatchesPerEpoch() {
		s.pos = Position{Epoch: s.pos.Epoch + 1}
	}
	return b
}

// Epoch returns all batches of epoch e, without moving the sampler.
func (s *Sampler) Epoch(e int) []Batch {
	out := make([]Batch, s.BatchesPerEpoch())
	for i := range out {
		p := Position{Epoch: e, Batch: i}
		out[i] = Batch{Position: p, Indices: s.indices(p)}
	}
	return out
}

// indices returns a copy of the indices of the batch at p.
func (s *Sampler) indices(p Position) []int {
	lo := p.Batch * s.opts.BatchSize
	hi := min(lo+s.opts.BatchSize, s.n)
	out := make([]int, hi-lo)
	if !s.opts.Shuffle {
		for i := range out {
			out[i] = lo + i
		}
		return out
	}
	if s.made != p.Epoch {
		s.perm, s.made = Permutation(s.n, s.opts.Seed, p.Epoch), p.Epoch
	}
	copy(out, s.perm[lo:hi])
	return out
}
