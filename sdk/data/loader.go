package data

import "fmt"

// Loader pairs a data set with a Sampler and copies out batches of
// pixels and labels, ready to become a tensor. Like its Sampler it is
// for use from one goroutine.
type Loader struct {
	Data    *Dataset
	Sampler *Sampler
	pixels  []uint8
	labels  []int
}

// LoadedBatch is one batch of a Loader: where it sits in the stream,
// the indices it took, and their pixels (len(Indices)×C×H×W) and labels.
type LoadedBatch struct {
	Batch
	Pixels []uint8
	Labels []int
}

// NewLoader returns a Loader over d, positioned at the start of epoch 0.
func NewLoader(d *Dataset, opts SamplerOptions) (*Loader, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	s, err := NewSampler(d.N, opts)
	if err != nil {
		return nil, fmt.Errorf("data: loader for %s: %w", d.Name, err)
	}
	return &Loader{Data: d, Sampler: s}, nil
}

// Next returns the next batch and advances. Its Pixels and Labels are
// reused by the following call; copy them to keep them.
func (l *Loader) Next() (LoadedBatch, error) {
	b := l.Sampler.Next()
	pixels, labels, err := l.Data.Batch(b.Indices, l.pixels[:0], l.labels[:0])
	if err != nil {
		return LoadedBatch{}, err
	}
	l.pixels, l.labels = pixels, labels
	return LoadedBatch{Batch: b, Pixels: pixels, Labels: labels}, nil
}

// Position returns the position of the next batch; see Sampler.Seek to
// resume from it.
func (l *Loader) Position() Position { return l.Sampler.Position() }
