package translate

import (
	"context"
	"fmt"

	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/eval"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Features are enc's pooled features of images (CHW RGB floats in
// [−1, 1] of side size), each quantised to 8 bits and normalised as the
// SDK's pre-training normalises images of that size (the simclr recipe's
// statistics), as `selfsup eval` feeds a trunk.
func Features(ctx context.Context, enc encoder.Encoder, images [][]float32, size int) ([][]float64, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("translate: no images to encode")
	}
	ds := &data.Dataset{Name: "translate", N: len(images), C: 3, H: size, W: size, Pixels: make([]uint8, 0, len(images)*3*size*size)}
	for _, v := range images {
		if len(v) != 3*size*size {
			return nil, fmt.Errorf("translate: an image of %d values, want 3×%d×%d", len(v), size, size)
		}
		for _, x := range v {
			ds.Pixels = append(ds.Pixels, uint8(min(255, max(0, (x+1)*127.5+0.5))))
		}
	}
	recipe, err := augment.Builtin("simclr", size, 3)
	if err != nil {
		return nil, err
	}
	norm := eval.Norm{}
	if nm := recipe.Normalize; nm != nil {
		norm = eval.Norm{Mean: nm.Mean, Std: nm.Std}
	}
	f, err := eval.Extract(ctx, enc, ds, eval.ExtractOptions{Norm: norm, BatchSize: 100})
	if err != nil {
		return nil, err
	}
	defer f.MustDrop()
	vals, err := tensor.AsFloat64s(f)
	if err != nil {
		return nil, err
	}
	d := len(vals) / len(images)
	out := make([][]float64, len(images))
	for i := range out {
		out[i] = vals[i*d : (i+1)*d]
	}
	return out, nil
}
