package data

import (
	"slices"
	"testing"
)

func TestLoader(t *testing.T) {
	d := tiny(10)
	l, err := NewLoader(d, SamplerOptions{BatchSize: 4, Shuffle: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 7 { // crosses two epoch boundaries
		b, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Pixels) != len(b.Indices)*d.ImageSize() || len(b.Labels) != len(b.Indices) {
			t.Fatalf("step %d: %d pixels and %d labels for %d indices", step, len(b.Pixels), len(b.Labels), len(b.Indices))
		}
		for k, i := range b.Indices {
			if !slices.Equal(b.Pixels[k*4:(k+1)*4], d.Image(i)) || b.Labels[k] != d.Label(i) {
				t.Errorf("step %d: image %d of the batch is not image %d of the data set", step, k, i)
			}
		}
	}
	if got := l.Position(); got != (Position{Epoch: 2, Batch: 1}) {
		t.Errorf("position after 7 batches of 3 per epoch: %+v, want epoch 2 batch 1", got)
	}
	if _, err := NewLoader(&Dataset{N: 1, C: 1, H: 1, W: 1}, SamplerOptions{BatchSize: 1}); err == nil {
		t.Error("loader over an invalid data set: no error, want one")
	}
}
