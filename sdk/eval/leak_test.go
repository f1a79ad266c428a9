package eval

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// liveTensors is the number of tensors gotch has not freed.
func liveTensors() int {
	runtime.GC()
	return len(ts.ExistingTensors)
}

// TestNoTensorLeaks runs every entry point and checks that each frees
// every tensor it made (the caller's and the returned ones aside).
func TestNoTensorLeaks(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	train, ytr := blobs(rng, 300, 6, 3)
	test, yte := blobs(rng, 50, 6, 3)
	xtr, xte := matrix(t, train), matrix(t, test)
	defer xtr.MustDrop()
	defer xte.MustDrop()
	ds := tinySet(5, 1)
	enc := newFlatEncoder(t, 4)
	cases := []struct {
		name string
		run  func() error
	}{
		{"KNN", func() error {
			_, err := KNN(ctx, xtr, ytr, xte, yte, KNNOptions{K: 10, Chunk: 7})
			return err
		}},
		{"LinearProbe", func() error {
			_, err := LinearProbe(ctx, xtr, ytr, xte, yte, ProbeOptions{Epochs: 2, BatchSize: 64})
			return err
		}},
		{"LinearProbe standardized", func() error {
			_, err := LinearProbe(ctx, xtr, ytr, xte, yte, ProbeOptions{Epochs: 1, Standardize: true})
			return err
		}},
		{"AlignUniform", func() error {
			_, err := AlignUniform(ctx, xte, xte, AlignUniformOptions{Chunk: 9})
			return err
		}},
		{"Evaluate", func() error {
			_, err := Evaluate(ctx, Features{Name: "x", Train: xtr, Test: xte}, ytr, yte, Options{Probe: ProbeOptions{Epochs: 1}})
			return err
		}},
		{"Pixels", func() error {
			x, err := Pixels(ctx, ds, ExtractOptions{Norm: FashionMNISTNorm(), BatchSize: 2})
			if err == nil {
				x.MustDrop()
			}
			return err
		}},
		{"Extract", func() error {
			x, err := Extract(ctx, enc, ds, ExtractOptions{Norm: FashionMNISTNorm(), BatchSize: 2})
			if err == nil {
				x.MustDrop()
			}
			return err
		}},
		{"KNN error", func() error {
			KNN(ctx, xtr, ytr[:3], xte, yte, KNNOptions{})
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := liveTensors()
			if err := c.run(); err != nil {
				t.Fatal(err)
			}
			if after := liveTensors(); after > before {
				t.Errorf("%d tensors live before, %d after: %d leaked", before, after, after-before)
			}
		})
	}
}
