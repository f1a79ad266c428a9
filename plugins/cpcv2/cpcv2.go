// Package cpcv2 is CPC v2 (Hénaff et al. 2020, "Data-Efficient Image
// Recognition with Contrastive Predictive Coding"), after the paper's
// appendix pseudo-code and text: each image is cut into a grid of
// overlapping patches and the trunk encodes every patch to a latent z_ij.
// For each prediction direction (top-down, bottom-up and both horizontal
// ones, the paper's BU and HP) the grid is turned so that the direction
// points down, a pixelCNN-style context network of its own summarises the
// rows at or above each position into c_ij, and 1×1 projections of its
// own predict, for each offset k, ẑ = emb_scale · P_k c_ij of the target
// t_{i+k,j} = T z_{i+k,j} (one 1×1 target projection for all directions).
// Each prediction is scored against the targets of every patch of the
// batch (InfoNCE); the loss is the sum over directions and offsets of
// each offset's mean cross-entropy, as the pseudo-code's
// "loss += cross_entropy(logits, labels)".
//
// Deviations from the paper, each a choice of scale or of the host:
//   - the grid is 7×7 patches of 8 pixels every 4 on a 32-pixel view
//     (the paper's 7×7 of 64 every 32 on 256-pixel crops), with offsets 2
//     to 5 (the pseudo-code's steps_to_ignore 2, steps_to_predict 3 give
//     offset 3 alone; a one-epoch budget learns little from one offset);
//   - the context network's bottleneck is the latents' width (the paper:
//     256 channels for 4096-d latents), and the latents are 128-d pooled
//     features of a small trunk, not a ResNet-161's;
//   - the trunk normalises with whatever it has (convnet-s: BatchNorm over
//     all patches of the batch), where the paper replaces BatchNorm by
//     layer normalisation in its encoder: the trunk is the host's;
//   - the context networks, projections and predictors train with Adam
//     (the paper: Adam too, lr 4e-4 at batch 512 over 32 devices).
//
// Import it to run the method in process, or serve it with the plugin
// binary in cmd/selfsup-cpcv2.
package cpcv2

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Name is the method id.
const Name = "cpcv2"

// Config scales the paper's ImageNet setting (a 7×7 grid of 64-pixel
// patches with 32-pixel overlap on 256-pixel crops, a pixelCNN context
// network of 5 residual blocks, 64-d targets, emb_scale 0.1, four
// prediction directions) to Fashion-MNIST: the image resized to 32 and cut
// into a 7×7 grid of 8-pixel patches every 4 pixels (pl_bolts' CIFAR
// setting), offsets 2 to 5, 5 blocks with a bottleneck at the latents'
// width (each reaches one row up, so the context of row 5 sees all rows
// above it), Adam at lr 1e-3, weight decay 1e-6.
type Config struct {
	Size          int64   `param:"size" default:"32" doc:"side of the view cut into the grid"`
	Patch         int64   `param:"patch" default:"8" doc:"side of a patch"`
	Stride        int64   `param:"stride" default:"4" doc:"pixels between patches"`
	MinOffset     int64   `param:"min_offset" default:"2" doc:"fewest rows below a context its prediction reaches (≥ 1)"`
	MaxOffset     int64   `param:"max_offset" default:"5" doc:"most rows below a context its prediction reaches (< the grid's side)"`
	ContextBlocks int64   `param:"context_blocks" default:"5" doc:"residual blocks of each direction's pixelCNN context network"`
	ContextWidth  int64   `param:"context_width" default:"0" doc:"bottleneck channels of the context blocks (0: the latents' size)"`
	TargetDim     int64   `param:"target_dim" default:"64" doc:"width of the target and prediction projections"`
	EmbScale      float64 `param:"emb_scale" default:"0.1" doc:"scale of the predictions (the paper's emb_scale)"`
	Directions    string  `param:"directions" default:"down,up,right,left" doc:"prediction directions, comma-separated: down (top-down, CPC v1), up (bottom-up), right, left (horizontal)"`
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
	if c.ContextBlocks < 0 || c.ContextWidth < 0 || c.TargetDim < 1 || c.EmbScale <= 0 {
		return fmt.Errorf("context_blocks %d, context_width %d, target_dim %d, emb_scale %v: want blocks ≥ 0, width ≥ 0 (0: the latents' size), target_dim ≥ 1, emb_scale > 0", c.ContextBlocks, c.ContextWidth, c.TargetDim, c.EmbScale)
	}
	_, err := c.directions()
	return err
}

// Directions of prediction, each a turn of the grid that makes it "down".
var directions = []string{"down", "up", "right", "left"}

// directions parses the config's list, in the order given, without
// repeats.
func (c *Config) directions() ([]string, error) {
	var out []string
	for _, d := range strings.Split(c.Directions, ",") {
		d = strings.TrimSpace(d)
		if !slices.Contains(directions, d) || slices.Contains(out, d) {
			return nil, fmt.Errorf("directions %q: want a comma-separated list without repeats of %v", c.Directions, directions)
		}
		out = append(out, d)
	}
	return out, nil
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
	// The objective of one direction on roles z [N, G, G, T] (the patch
	// targets) and preds [K, N, G, G, T] (predictions per offset, see
	// Loss) with param min_offset.
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

// Loss is CPC's InfoNCE over a grid in one direction: z [N, G, G, T] are
// the patch targets and preds [K, N, G, G, T] the predictions,
// preds[a][n, i, j] predicting z[n, i+k, j] for offset k = minOffset + a
// (entries with i + k ≥ G are ignored). Each prediction is scored against
// all N·G·G targets of the batch (dot products) with the true one the
// positive; the loss is the sum over offsets of each offset's mean
// cross-entropy (the paper's pseudo-code). It computes in z's dtype; the
// caller owns the result.
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
	if k < 1 || minOffset < 1 || minOffset+k-1 >= g {
		return nil, fmt.Errorf("offsets %d to %d on a grid of %d rows: want 1 ≤ min and max < %d", minOffset, minOffset+k-1, g, g)
	}
	s := tensor.NewScope()
	defer s.Close()
	// preds [K, N, G, G, T] flattened in that order is the layout of one
	// direction's predictions in a step (see rowIndex)
	ix := newIndex(n, g, k, minOffset, []string{"down"})
	loss, _, err := ix.loss(s, s.T(preds.MustReshape([]int64{-1, d}, false)), s.T(z.MustReshape([]int64{-1, d}, false)))
	if err != nil {
		return nil, err
	}
	return s.Detach(loss), nil
}

// index lists, for every prediction of a step (all directions and
// offsets), the row of the flattened predictions it is, the flat index of
// its positive among the batch's targets, and its weight 1/(count of its
// offset and direction), so that the weighted sum of the rows'
// cross-entropies is Σ_direction Σ_offset mean CE.
type index struct {
	rows, labels []int64
	weights      []float64
	dirEnd       []int // end of each direction's rows
	chunk        int64 // logits scored at once (0: chunkElems)
}

// newIndex builds the index for n images on a g×g grid whose predictions
// are laid out flat as [K, N, G, G] per direction, directions one after
// the other ([D', K, N, G, G]).
func newIndex(n, g, k, minOffset int64, dirs []string) *index {
	ix := &index{}
	for di, dir := range dirs {
		for a := range k {
			off := minOffset + a
			w := 1 / float64(n*(g-off)*g)
			for b := range n {
				for i := range g - off {
					for j := range g {
						ix.rows = append(ix.rows, (((int64(di)*k+a)*n+b)*g+i)*g+j)
						oi, oj := origin(dir, i+off, j, g)
						ix.labels = append(ix.labels, (b*g+oi)*g+oj)
						ix.weights = append(ix.weights, w)
					}
				}
			}
		}
		ix.dirEnd = append(ix.dirEnd, len(ix.rows))
	}
	return ix
}

// origin is the position in the grid as the trunk saw it of position
// (i, j) of the grid turned for direction dir (see turn).
func origin(dir string, i, j, g int64) (int64, int64) {
	switch dir {
	case "up":
		return g - 1 - i, j
	case "right":
		return j, i
	case "left":
		return j, g - 1 - i
	}
	return i, j
}

// chunkElems bounds the logits scored at once: rows of predictions are
// scored against all targets a chunk at a time, so that a chunk's logits
// (about 4 MiB in float32) stay in cache while they are turned into
// their gradient.
const chunkElems = 1 << 20

// loss returns Σ_r w_r CE_r over the predictions of the index, preds
// [rows, T] flat and targets [N·G·G, T] the bank, and every row's w_r CE_r.
// The logits of a step are many (25,088 × 3,136 with the recipe's batch
// and four directions) and autograd would keep all of them and walk them
// three times (logsumexp, its backward, the matrix product's); instead
// the gradient is computed here, chunk by chunk, from the rule of the
// cross-entropy, ∂L/∂logit_rc = w_r (softmax_rc − [c = label_r]): the
// gradients of the predictions and targets are G·targets and Gᵀ·preds.
// The loss returned is the value with those gradients attached
// (Σ preds·gp + Σ targets·gt − its own value + L), so a backward through
// it reaches the context network and the trunk exactly as the plain
// formula's would. The loss belongs to s.
func (ix *index) loss(s *tensor.Scope, preds, targets *ts.Tensor) (*ts.Tensor, []float64, error) {
	dev, dt := preds.MustDevice(), preds.DType()
	put := func(x *ts.Tensor, err error) (*ts.Tensor, error) {
		if err != nil {
			return nil, err
		}
		if dev != gotch.CPU {
			x = x.MustTo(dev, true)
		}
		return s.T(x), nil
	}
	rows, err := put(tensor.FromInt64(ix.rows, int64(len(ix.rows))))
	if err != nil {
		return nil, nil, err
	}
	labels, err := put(tensor.FromInt64(ix.labels, int64(len(ix.labels)), 1))
	if err != nil {
		return nil, nil, err
	}
	w, err := put(tensor.FromFloat64(ix.weights, int64(len(ix.weights)), 1))
	if err != nil {
		return nil, nil, err
	}
	if dt != gotch.Double {
		w = s.T(w.MustTotype(dt, false))
	}
	p := s.T(preds.MustIndexSelect(0, rows, false)) // rows, T; in the graph
	pd, td := s.T(p.MustDetach(false)), s.T(targets.MustDetach(false))
	tdT := s.T(td.MustT(false))
	nr, nb := int64(len(ix.rows)), targets.MustSize()[0]
	chunk := ix.chunk
	if chunk <= 0 {
		chunk = chunkElems
	}
	chunk = max(1, chunk/nb)
	gt := s.T(td.MustZerosLike(false))
	var gps, ces []*ts.Tensor
	for at := int64(0); at < nr; at += chunk {
		c := min(chunk, nr-at)
		cs := tensor.NewScope()
		pc := cs.T(pd.MustNarrow(0, at, c, false))
		lab := cs.T(labels.MustNarrow(0, at, c, false))
		wc := cs.T(w.MustNarrow(0, at, c, false))
		lg := cs.T(pc.MustMm(tdT, false)) // c, N·G·G
		lse := cs.T(lg.MustLogsumexp([]int64{1}, true, false))
		pos := cs.T(lg.MustGather(1, lab, false, false))
		ces = append(ces, s.T(cs.T(lse.MustSub(pos, false)).MustMul(wc, false)))
		// lg becomes ∂L/∂logits: w (softmax − one-hot of the label)
		neg := cs.T(wc.MustNeg(false))
		lgT := cs.T(lg.MustT(false))
		err := errors.Join(
			tensor.InPlace("sub_", func(o *lib.Ctensor) { lib.AtgSub_(o, tensor.C(lg), tensor.C(lse)) }),
			tensor.InPlace("exp_", func(o *lib.Ctensor) { lib.AtgExp_(o, tensor.C(lg)) }),
			tensor.InPlace("mul_", func(o *lib.Ctensor) { lib.AtgMul_(o, tensor.C(lg), tensor.C(wc)) }),
			tensor.InPlace("scatter_add_", func(o *lib.Ctensor) { lib.AtgScatterAdd_(o, tensor.C(lg), 1, tensor.C(lab), tensor.C(neg)) }),
		)
		if err == nil {
			gps = append(gps, s.T(lg.MustMm(td, false)))
			err = tensor.InPlace("addmm_", func(o *lib.Ctensor) { lib.AtgAddmm_(o, tensor.C(gt), tensor.C(lgT), tensor.C(pc)) })
		}
		cs.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("cpcv2: gradient of the scores: %w", err)
		}
	}
	wce := s.T(ts.MustCat(ces, 0))
	gp := s.T(ts.MustCat(gps, 0))
	sum := func(a, b *ts.Tensor) *ts.Tensor { return s.T(s.T(a.MustMul(b, false)).MustSum(dt, false)) }
	sur := s.T(sum(p, gp).MustAdd(sum(targets, gt), false))
	val := s.T(wce.MustSum(dt, false))
	loss := s.T(s.T(sur.MustSub(s.T(sur.MustDetach(false)), false)).MustAdd(val, false))
	per, err := tensor.AsFloat64s(wce)
	if err != nil {
		return nil, nil, err
	}
	return loss, per, nil
}

// step is CPC v2 set up: the target projection, and per direction a
// context network and one predictor per offset, the directions' run side
// by side as grouped convolutions.
type step struct {
	dim, side, minOffset, k, tdim int64
	scale                         float64
	dirs                          []string
	target                        *nn.Linear
	ctx                           *Context
	pred                          *conv // 1×1, per direction K·T outputs
	ix                            *index
	ixN                           int64 // the batch ix was built for
}

// build makes the target projection, then the directions' context
// networks and predictors, with their Adam, for latents of
// FeatureDims["pooled"] = [D].
func build(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
	width := c.ContextWidth
	if width == 0 {
		width = h.Dim
	}
	dirs, err := c.directions()
	if err != nil {
		return nil, err
	}
	k := c.MaxOffset - c.MinOffset + 1
	m := &step{dim: h.Dim, side: c.side(), minOffset: c.MinOffset, k: k, tdim: c.TargetDim, scale: c.EmbScale, dirs: dirs}
	if m.target, err = nn.NewLinear(h.Sub("target"), h.Rng, h.Dim, c.TargetDim, true); err != nil {
		return nil, err
	}
	nd := int64(len(dirs))
	if m.ctx, err = NewContexts(h.Sub("context"), h.Rng, nd, h.Dim, width, int(c.ContextBlocks)); err != nil {
		return nil, err
	}
	if m.pred, err = newConv(h.Sub("pred"), h.Rng, nd, h.Dim, k*c.TargetDim, 1, 1, 0, 0); err != nil {
		return nil, err
	}
	return m, h.Adam(c.LR, c.WeightDecay)
}

// turn makes direction dir of grid x [N, G, G, C] point down (rows
// increasing): up flips the rows, right swaps rows and columns, left does
// both. It belongs to s.
func turn(s *tensor.Scope, x *ts.Tensor, dir string) *ts.Tensor {
	switch dir {
	case "up":
		return s.T(x.MustFlip([]int64{1}, false))
	case "right":
		return s.T(x.MustTranspose(1, 2, false))
	case "left":
		return s.T(s.T(x.MustTranspose(1, 2, false)).MustFlip([]int64{1}, false))
	}
	return x
}

// Forward projects the latents of the grid view to targets and, in every
// direction, predicts them from their context and scores the predictions.
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z := s.Online("v1") // N, G, G, D
	n, g, nd := s.N, m.side, int64(len(m.dirs))
	zs := z.MustSize()
	targets := s.T(m.target.Forward(s.T(z.MustReshape([]int64{-1, zs[3]}, false)))) // N·G·G, T
	turned := make([]*ts.Tensor, nd)
	for i, d := range m.dirs {
		turned[i] = s.T(turn(s.Scope, z, d).MustPermute([]int64{0, 3, 1, 2}, false))
	}
	c := s.T(m.ctx.forward(s.T(ts.MustCat(turned, 1)))) // N, D'·D, G, G
	p := s.T(m.pred.forward(c))                         // N, D'·K·T, G, G
	p = s.T(p.MustMulScalar(ts.FloatScalar(m.scale), false))
	// to [D', K, N, G, G, T], flat: the index's layout
	p = s.T(p.MustReshape([]int64{n, nd, m.k, m.tdim, g, g}, false))
	p = s.T(s.T(p.MustPermute([]int64{1, 2, 0, 4, 5, 3}, false)).MustReshape([]int64{-1, m.tdim}, false))
	if m.ix == nil || m.ixN != n {
		m.ix, m.ixN = newIndex(n, g, m.k, m.minOffset, m.dirs), n
	}
	loss, per, err := m.ix.loss(s.Scope, p, targets)
	if err != nil {
		return nil, err
	}
	start := 0
	for i, d := range m.dirs {
		var sum float64
		for _, v := range per[start:m.ix.dirEnd[i]] {
			sum += v
		}
		s.Metric("loss_"+d, sum)
		start = m.ix.dirEnd[i]
	}
	// the loss of a guess: every offset of every direction scores log(N·G·G)
	s.Metric("chance_loss", float64(nd*m.k)*math.Log(float64(n*g*g)))
	return loss, nil
}
