package augment

import (
	"context"
	"fmt"
	"image"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/plot"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// ShowOptions says what ShowGrid draws. The zero value shows 8 images
// with 8 augmented views each.
type ShowOptions struct {
	// Images is the number of images, one per row; 0 means 8.
	Images int
	// Indices, when set, picks the images (and overrides Images); by
	// default they are spread evenly over the data set.
	Indices []int
	// Draws is how many times each image is augmented; each draw adds one
	// column per view. 0 fills about 8 columns.
	Draws int
	// Seed picks the random draws.
	Seed uint64
	// Grid lays the picture out (scale, padding); Cols and RowLabels are
	// set by ShowGrid.
	Grid plot.GridOptions
}

// ShowGrid draws a picture of what the views do: one row per image, the
// original first, then each draw's views in order. Views are shown before
// normalisation (what the recipe does, in [0, 1]), and views smaller than
// the largest are enlarged with nearest-neighbour pixels, so small crops
// look blocky, as they are. Rows are labelled with class names when the
// data set has them. Save the picture with plot.SavePNG.
func ShowGrid(ctx context.Context, d *data.Dataset, views []ViewRecipe, opts ShowOptions) (*image.RGBA, error) {
	if d == nil || d.N == 0 {
		return nil, fmt.Errorf("augment: show: no images; load a data set first")
	}
	idx := opts.Indices
	if len(idx) == 0 {
		k := opts.Images
		if k <= 0 {
			k = 8
		}
		k = min(k, d.N)
		for i := range k {
			idx = append(idx, i*d.N/k)
		}
	}
	raw := make([]ViewRecipe, len(views))
	for i, v := range views {
		raw[i] = ViewRecipe{Name: v.Name, Recipe: v.Recipe.Clone()}
		raw[i].Recipe.Normalize = nil
	}
	p, err := New(raw...)
	if err != nil {
		return nil, fmt.Errorf("augment: show: %w", err)
	}
	draws := opts.Draws
	if draws <= 0 {
		draws = max(1, (8+len(views)-1)/len(views))
	}
	pix, labels, err := d.Batch(idx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("augment: show: %w", err)
	}
	k := int64(len(idx))
	x, err := tensor.FromUint8(pix, k, int64(d.C), int64(d.H), int64(d.W))
	if err != nil {
		return nil, fmt.Errorf("augment: show: %w", err)
	}
	defer x.MustDrop()

	// Columns: the original, then every view of every draw, as [k, C, S, S]
	// float tensors in [0, 1], enlarged to a common side.
	scope := tensor.NewScope()
	defer scope.Close()
	cols := []*ts.Tensor{scope.T(scope.T(x.MustTotype(gotch.Float, false)).MustDivScalar(ts.FloatScalar(255), false))}
	for r := range draws {
		res, err := p.Augment(ctx, Request{Images: x, Seed: opts.Seed, Step: uint64(r)})
		if err != nil {
			return nil, fmt.Errorf("augment: show: %w", err)
		}
		for _, v := range res.Views {
			cols = append(cols, scope.T(v.Images))
			v.Images = nil
			v.Drop()
		}
	}
	side := int64(0)
	for _, c := range cols {
		sz := c.MustSize()
		side = max(side, sz[2], sz[3])
	}
	for i, c := range cols {
		if sz := c.MustSize(); sz[2] != side || sz[3] != side {
			cols[i] = scope.T(c.MustUpsampleNearest2d([]int64{side, side}, nil, nil, false))
		}
	}
	// [k, cols, C, S, S] bytes, row-major: image by image, column by column.
	all := scope.T(ts.MustStack(cols, 1))
	all = scope.T(all.MustClamp(ts.FloatScalar(0), ts.FloatScalar(1), false))
	all = scope.T(all.MustMulScalar(ts.FloatScalar(255), false))
	all = scope.T(all.MustRound(false))
	all = scope.T(all.MustTotype(gotch.Uint8, false))
	all = scope.T(all.MustContiguous(false))
	b, err := tensor.AppendBytes(nil, all)
	if err != nil {
		return nil, fmt.Errorf("augment: show: %w", err)
	}
	gopts := opts.Grid
	gopts.Cols = len(cols)
	gopts.RowLabels = nil
	if d.Labeled() {
		for _, l := range labels {
			name := ""
			if l >= 0 && l < len(d.Classes) {
				name = d.Classes[l]
			}
			gopts.RowLabels = append(gopts.RowLabels, name)
		}
	}
	img, err := plot.Grid(plot.Images{Pixels: b, N: len(idx) * len(cols), C: d.C, H: int(side), W: int(side)}, gopts)
	if err != nil {
		return nil, fmt.Errorf("augment: show: %w", err)
	}
	return img, nil
}
