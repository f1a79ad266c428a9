// Package cpcv2 is CPC v2 (Hénaff et al. 2019, "Data-Efficient Image
// Recognition with Contrastive Predictive Coding"): each image is cut into
// a grid of overlapping patches, the trunk encodes every patch to a latent
// z_ij, a row-masked convolutional context network summarises the rows at
// or above each position into c_ij, and linear maps W_k predict the latents
// k rows below, ẑ_{i+k,j} = W_k c_ij, scored by InfoNCE against every
// patch latent of the batch. Import it to run the method in process, or
// serve it with the plugin binary in cmd/selfsup-cpcv2.
package cpcv2

import (
	"fmt"
	"math"
	"strconv"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Name is the method id.
const Name = "cpcv2"

// Config scales the paper's ImageNet setting (a 7×7 grid of 64-pixel
// patches with 32-pixel overlap on 256-pixel crops, predictions up to 5
// rows below skipping the overlapping next row, a PixelCNN context network
// of residual blocks) to Fashion-MNIST: the image resized to 32 and cut
// into a 7×7 grid of 8-pixel patches every 4 pixels (pl_bolts' CIFAR
// setting), offsets 2 to 5, a context network of one masked layer and 5
// residual blocks at the latents' width (each layer reaches one row up, so
// the context of row i sees all 6 rows above it), Adam at lr 1e-3, weight
// decay 1e-6.
type Config struct {
	Size          int64   `param:"size" default:"32" doc:"side of the view cut into the grid"`
	Patch         int64   `param:"patch" default:"8" doc:"side of a patch"`
	Stride        int64   `param:"stride" default:"4" doc:"pixels between patches"`
	MinOffset     int64   `param:"min_offset" default:"2" doc:"fewest rows below a context its prediction reaches (≥ 1)"`
	MaxOffset     int64   `param:"max_offset" default:"5" doc:"most rows below a context its prediction reaches (< the grid's side)"`
	ContextBlocks int64   `param:"context_blocks" default:"5" doc:"residual blocks of the masked-conv context network"`
	ContextWidth  int64   `param:"context_width" default:"0" doc:"channels of the context network (0: the latents' size)"`
	LR            float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the context network and predictors"`
	WeightDecay   float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the context network and predictors"`
}

// grid is the Spec's grid of the view.
func (c *Config) grid() *method.Grid {
	return &method.Grid{Patch: int(c.Patch), Stride: int(c.Stride), PatchRecipe: "cpcv2-patch"}
}

// side is G, the patches per side of the grid (0 when it does not tile).
func (c *Config) side() int64 { return int64(c.grid().Side(int(c.Size))) }

// Validate checks that the grid tiles the view and the offsets fit it.
func (c *Config) Validate() error {
	side := c.side()
	if side < 2 {
		return fmt.Errorf("patches of %d every %d pixels do not tile a %d-pixel view; want (size − patch) a multiple of stride and at least 2 patches a side", c.Patch, c.Stride, c.Size)
	}
	if c.MinOffset < 1 || c.MaxOffset < c.MinOffset || c.MaxOffset >= side {
		return fmt.Errorf("offsets %d to %d on a %d×%d grid: want 1 ≤ min_offset ≤ max_offset < %d", c.MinOffset, c.MaxOffset, side, side, side)
	}
	if c.ContextBlocks < 0 || c.ContextWidth < 0 {
		return fmt.Errorf("context_blocks %d, context_width %d: want ≥ 0 (width 0: the latents' size)", c.ContextBlocks, c.ContextWidth)
	}
	return nil
}

// Def is CPC v2 for the method kit: one view v1 through the trunk, recipe
// cpcv2 (crop and flip) at the configured size, cut into a grid of patches
// that recipe cpcv2-patch augments one by one; the pooled tap of every
// patch, [N, G, G, D].
var Def = methodkit.Def[Config]{
	Name:    Name,
	Summary: "CPC v2: InfoNCE of latents k rows below, predicted from a masked-conv context over a patch grid",
	Spec: func(c *Config) method.Spec {
		return method.Spec{Views: []method.View{{Name: "v1", Recipe: "cpcv2", Size: int(c.Size), Online: true, Grid: c.grid()}}}
	},
	Build: build,
	// The objective on roles z [N, G, G, D] (patch latents) and preds
	// [K, N, G, G, D] (predictions per offset, see Loss) with param
	// min_offset.
	Loss: &methodkit.Loss[Config]{Roles: []string{"z", "preds"}, Fn: func(r method.Tensors, c *Config, _ method.Params) (*ts.Tensor, error) {
		return Loss(r["z"], r["preds"], c.MinOffset)
	}},
}

// New returns a CPC v2 method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh CPC v2 methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Loss is CPC's InfoNCE over a grid: z [N, G, G, D] are the patch latents
// and preds [K, N, G, G, D] the predictions, preds[a][n, i, j] predicting
// z[n, i+k, j] for offset k = minOffset + a (entries with i + k ≥ G are
// ignored). Each prediction is scored against all N·G·G latents of the
// batch (dot products), the true latent is the positive, and the loss is
// the mean cross-entropy over all predictions of all offsets — the
// paper's sum over (i, j, k) divided by its count. It computes in z's
// dtype; the caller owns the result.
func Loss(z, preds *ts.Tensor, minOffset int64) (*ts.Tensor, error) {
	zs, ps := z.MustSize(), preds.MustSize()
	if len(zs) != 4 || zs[1] != zs[2] {
		return nil, fmt.Errorf("latents of shape %v: want [N, G, G, D]", zs)
	}
	n, g, d := zs[0], zs[1], zs[3]
	if len(ps) != 5 || ps[1] != n || ps[2] != g || ps[3] != g || ps[4] != d {
		return nil, fmt.Errorf("predictions of shape %v: want [K, %d, %d, %d, %d]", ps, n, g, g, d)
	}
	k := ps[0]
	if minOffset < 1 || minOffset+k-1 >= g {
		return nil, fmt.Errorf("offsets %d to %d on a grid of %d rows: want 1 ≤ min and max < %d", minOffset, minOffset+k-1, g, g)
	}
	s := tensor.NewScope()
	defer s.Close()
	flat := s.T(z.MustReshape([]int64{n * g * g, d}, false))
	bank := s.T(flat.MustT(false)) // D, N·G·G
	var rows, labels []*ts.Tensor
	for a := range k {
		off := minOffset + a
		p := s.T(s.T(preds.MustSelect(0, a, false)).MustNarrow(1, 0, g-off, false)) // N, G−k, G, D
		rows = append(rows, s.T(p.MustReshape([]int64{-1, d}, false)))
		idx := make([]int64, 0, n*(g-off)*g)
		for b := range n {
			for i := range g - off {
				for j := range g {
					idx = append(idx, b*g*g+(i+off)*g+j)
				}
			}
		}
		l, err := tensor.FromInt64(idx, int64(len(idx)))
		if err != nil {
			return nil, err
		}
		if dev := z.MustDevice(); dev != gotch.CPU {
			l = l.MustTo(dev, true)
		}
		labels = append(labels, s.T(l))
	}
	all := s.T(ts.MustCat(rows, 0))
	logits := s.T(all.MustMm(bank, false))
	return nn.CrossEntropy(logits, s.T(ts.MustCat(labels, 0))), nil
}

// step is CPC v2 set up: the context network and one predictor per offset.
type step struct {
	dim, side, minOffset int64
	ctx                  *Context
	pred                 []*nn.Linear // W_k, k = minOffset…maxOffset
}

// build makes the context network and one predictor per offset, with their
// Adam, for latents of FeatureDims["pooled"] = [D].
func build(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
	width := c.ContextWidth
	if width == 0 {
		width = h.Dim
	}
	m := &step{dim: h.Dim, side: c.side(), minOffset: c.MinOffset}
	var err error
	if m.ctx, err = NewContext(h.Sub("context"), h.Rng, h.Dim, width, int(c.ContextBlocks)); err != nil {
		return nil, err
	}
	for k := c.MinOffset; k <= c.MaxOffset; k++ {
		l, err := nn.NewLinear(h.Sub("pred").Sub(strconv.FormatInt(k, 10)), h.Rng, width, h.Dim, false)
		if err != nil {
			return nil, err
		}
		m.pred = append(m.pred, l)
	}
	return m, h.Adam(c.LR, c.WeightDecay)
}

// predict runs the context network and the predictors on latents z
// [N, G, G, D]: [K, N, G, G, D], under s.
func (m *step) predict(s *tensor.Scope, z *ts.Tensor) *ts.Tensor {
	c := s.T(m.ctx.Forward(z))
	sz := c.MustSize()
	flat := s.T(c.MustReshape([]int64{-1, sz[3]}, false))
	preds := make([]*ts.Tensor, len(m.pred))
	for i, w := range m.pred {
		preds[i] = s.T(s.T(w.Forward(flat)).MustReshape([]int64{sz[0], sz[1], sz[2], m.dim}, false))
	}
	return s.T(ts.MustStack(preds, 0))
}

// Forward predicts the latents of the grid view from their context and
// scores the predictions.
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z := s.Online("v1")
	// log(N·G·G) is the loss of a guess: the metric shows how far below it
	// the predictions are.
	s.Metric("chance_loss", math.Log(float64(s.N*m.side*m.side)))
	return Loss(z, m.predict(s.Scope, z), m.minOffset)
}
