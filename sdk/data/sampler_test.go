package data

import (
	"slices"
	"testing"
)

func TestSamplerEpochs(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		opts        SamplerOptions
		wantBatches int
		wantLast    int // size of the last batch
	}{
		{"even", 10, SamplerOptions{BatchSize: 5}, 2, 5},
		{"keep short last", 10, SamplerOptions{BatchSize: 4}, 3, 2},
		{"drop short last", 10, SamplerOptions{BatchSize: 4, DropLast: true}, 2, 4},
		{"shuffled", 103, SamplerOptions{BatchSize: 10, Shuffle: true, Seed: 7}, 11, 3},
		{"one big batch", 3, SamplerOptions{BatchSize: 100}, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSampler(tt.n, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.BatchesPerEpoch(); got != tt.wantBatches {
				t.Fatalf("%d batches per epoch, want %d", got, tt.wantBatches)
			}
			for e := range 3 {
				var seen []int
				for b := range tt.wantBatches {
					batch := s.Next()
					if batch.Position != (Position{Epoch: e, Batch: b}) {
						t.Fatalf("batch at %+v, want epoch %d batch %d", batch.Position, e, b)
					}
					seen = append(seen, batch.Indices...)
					if b == tt.wantBatches-1 && len(batch.Indices) != tt.wantLast {
						t.Errorf("last batch has %d indices, want %d", len(batch.Indices), tt.wantLast)
					}
				}
				// Every index at most once per epoch; all of them unless dropped.
				slices.Sort(seen)
				if len(slices.Compact(slices.Clone(seen))) != len(seen) {
					t.Errorf("epoch %d repeats indices", e)
				}
				if !tt.opts.DropLast && len(seen) != tt.n {
					t.Errorf("epoch %d covers %d of %d indices", e, len(seen), tt.n)
				}
			}
		})
	}
}

func TestSamplerShuffleDeterministic(t *testing.T) {
	opts := SamplerOptions{BatchSize: 32, Shuffle: true, Seed: 42}
	a, _ := NewSampler(1000, opts)
	b, _ := NewSampler(1000, opts)
	other, _ := NewSampler(1000, SamplerOptions{BatchSize: 32, Shuffle: true, Seed: 43})
	e0, e1 := a.Epoch(0), a.Epoch(1)
	if !slices.Equal(e0[0].Indices, b.Epoch(0)[0].Indices) {
		t.Error("same seed gives different batches")
	}
	if slices.Equal(e0[0].Indices, e1[0].Indices) {
		t.Error("epochs 0 and 1 start with the same batch")
	}
	if slices.Equal(e0[0].Indices, other.Epoch(0)[0].Indices) {
		t.Error("seeds 42 and 43 give the same batch")
	}
	if slices.Equal(e0[0].Indices, seq(32)) {
		t.Error("shuffled batch is the identity")
	}
}

func TestSamplerResume(t *testing.T) {
	for _, opts := range []SamplerOptions{
		{BatchSize: 7, Shuffle: true, Seed: 1},
		{BatchSize: 7, Shuffle: true, Seed: 1, DropLast: true},
		{BatchSize: 7},
	} {
		// An uninterrupted run of 25 batches (more than 2 epochs of 50 items).
		full, _ := NewSampler(50, opts)
		var want [][]int
		for range 25 {
			want = append(want, full.Next().Indices)
		}
		for stop := range 25 {
			run, _ := NewSampler(50, opts)
			var got [][]int
			for range stop {
				got = append(got, run.Next().Indices)
			}
			pos := run.Position() // saved with a checkpoint
			resumed, _ := NewSampler(50, opts)
			if err := resumed.Seek(pos); err != nil {
				t.Fatal(err)
			}
			for len(got) < 25 {
				got = append(got, resumed.Next().Indices)
			}
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("%+v stopped at %d (%+v): batch %d is %v, want %v", opts, stop, pos, i, got[i], want[i])
				}
			}
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	tests := []struct {
		name string
		n    int
		opts SamplerOptions
	}{
		{"zero batch", 10, SamplerOptions{}},
		{"negative n", -1, SamplerOptions{BatchSize: 1}},
		{"drop everything", 3, SamplerOptions{BatchSize: 4, DropLast: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSampler(tt.n, tt.opts); err == nil {
				t.Error("no error, want one")
			}
		})
	}
	s, _ := NewSampler(10, SamplerOptions{BatchSize: 3})
	for _, p := range []Position{{Epoch: -1}, {Batch: 5}, {Batch: -1}} {
		if err := s.Seek(p); err == nil {
			t.Errorf("Seek(%+v): no error, want one", p)
		}
	}
	if err := s.Seek(Position{Epoch: 2, Batch: 4}); err != nil || s.Position() != (Position{Epoch: 3}) {
		t.Errorf("Seek to the end of epoch 2: %v at %+v, want epoch 3 batch 0", err, s.Position())
	}
}

func TestPermutationStable(t *testing.T) {
	// Pinned values: a change here breaks resuming old checkpoints.
	tests := []struct {
		n     int
		seed  uint64
		epoch int
		want  []int
	}{
		{10, 0, 0, []int{0, 5, 4, 2, 3, 6, 8, 1, 9, 7}},
		{0, 3, 1, []int{}},
		{1, 3, 1, []int{0}},
	}
	for _, tt := range tests {
		if got := Permutation(tt.n, tt.seed, tt.epoch); !slices.Equal(got, tt.want) {
			t.Errorf("Permutation(%d, %d, %d) = %v, want %v", tt.n, tt.seed, tt.epoch, got, tt.want)
		}
	}
	for e := range 5 {
		got := slices.Sorted(slices.Values(Permutation(257, 9, e)))
		if !slices.Equal(got, seq(257)) {
			t.Fatalf("Permutation(257, 9, %d) is not a permutation", e)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
