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
	"context"
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

// Constructor makes fresh CPC v2 methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "CPC v2: InfoNCE of latents k rows below, predicted from a masked-conv context over a patch grid",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults scale the paper's ImageNet setting (a 7×7 grid of 64-pixel
// patches with 32-pixel overlap on 256-pixel crops, predictions up to 5
// rows below skipping the overlapping next row, a PixelCNN context network
// of residual blocks) to Fashion-MNIST: the image resized to 32 and cut
// into a 7×7 grid of 8-pixel patches every 4 pixels (pl_bolts' CIFAR
// setting), offsets 2 to 5, a context network of one masked layer and 5
// residual blocks at the latents' width (each layer reaches one row up, so
// the context of row i sees all 6 rows above it), Adam at lr 1e-3, weight
// decay 1e-6.
func Defaults() method.Params {
	return method.Params{
		"size": int64(32), "patch": int64(8), "stride": int64(4),
		"min_offset": int64(2), "max_offset": int64(5),
		"context_blocks": int64(5), "context_width": int64(0),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

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

// Method is CPC v2. Its zero value is not set up; use New, then Setup.
type Method struct {
	h                    nn.Heads // context network, predictors, Adam, counters
	size, patch, stride  int
	minOffset, maxOffset int64
	ctx                  *Context
	pred                 []*nn.Linear // W_k, k = minOffset…maxOffset
}

// New returns a CPC v2 method that still needs Setup (Loss works at once).
func New() *Method {
	return &Method{h: nn.Heads{Name: Name}, size: 32, patch: 8, stride: 4, minOffset: 2, maxOffset: 5}
}

// key is the feature key of the grid view's pooled latents, [N, G, G, D].
var key = method.FeatureKey("v1", "pooled", false)

// Spec: one view v1 through the trunk, recipe cpcv2 (crop and flip) at the
// configured size, cut into a grid of patches that recipe cpcv2-patch
// augments one by one; the pooled tap of every patch.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: Name,
		Views: []method.View{{
			Name: "v1", Recipe: "cpcv2", Size: m.size, Online: true,
			Grid: &method.Grid{Patch: m.patch, Stride: m.stride, PatchRecipe: "cpcv2-patch"},
		}},
		Defaults: Defaults(),
	}
}

// Setup reads the grid and the offsets, and builds the context network,
// one predictor per offset and their Adam from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(Name, Defaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [9]error
	var size, patch, stride, lo, hi, blocks, width int64
	var lr, wd float64
	size, errs[0] = p.Int("size")
	patch, errs[1] = p.Int("patch")
	stride, errs[2] = p.Int("stride")
	lo, errs[3] = p.Int("min_offset")
	hi, errs[4] = p.Int("max_offset")
	blocks, errs[5] = p.Int("context_blocks")
	width, errs[6] = p.Int("context_width")
	lr, errs[7] = p.Float("lr")
	wd, errs[8] = p.Float("weight_decay")
	if err := methodkit.FirstErr(errs[:]...); err != nil {
		return method.SetupResponse{}, fmt.Errorf("cpcv2 setup: %w", err)
	}
	g := method.Grid{Patch: int(patch), Stride: int(stride)}
	side := int64(g.Side(int(size)))
	if side < 2 {
		return method.SetupResponse{}, fmt.Errorf("cpcv2 setup: patches of %d every %d pixels do not tile a %d-pixel view; want (size − patch) a multiple of stride and at least 2 patches a side", patch, stride, size)
	}
	if lo < 1 || hi < lo || hi >= side {
		return method.SetupResponse{}, fmt.Errorf("cpcv2 setup: offsets %d to %d on a %d×%d grid: want 1 ≤ min_offset ≤ max_offset < %d", lo, hi, side, side, side)
	}
	if blocks < 0 || width < 0 {
		return method.SetupResponse{}, fmt.Errorf("cpcv2 setup: context_blocks %d, context_width %d: want ≥ 0 (width 0: the latents' size)", blocks, width)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.size, m.patch, m.stride, m.minOffset, m.maxOffset = int(size), int(patch), int(stride), lo, hi
	if width == 0 {
		width = m.h.Dim
	}
	rng := nn.NewRand(req.Seed)
	root := m.h.VS.Root()
	m.pred = nil
	m.ctx, err = NewContext(root.Sub("context"), rng, m.h.Dim, width, int(blocks))
	for k := lo; k <= hi && err == nil; k++ {
		var l *nn.Linear
		if l, err = nn.NewLinear(root.Sub("pred").Sub(strconv.FormatInt(k, 10)), rng, width, m.h.Dim, false); err == nil {
			m.pred = append(m.pred, l)
		}
	}
	if err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("cpcv2 setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates the objective on roles z [N, G, G, D] (patch latents) and
// preds [K, N, G, G, D] (predictions per offset, see Loss) with param
// min_offset (default 2).
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	lo, err := in.Params.IntOr("min_offset", 2)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("cpcv2 loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "z", "preds")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("cpcv2 loss: %w", err)
	}
	defer l.Drop()
	loss, err := Loss(l.T("z"), l.T("preds"), lo)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("cpcv2 loss: %w", err)
	}
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("cpcv2 loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// predict runs the context network and the predictors on latents z
// [N, G, G, D]: [K, N, G, G, D], under s.
func (m *Method) predict(s *tensor.Scope, z *ts.Tensor) *ts.Tensor {
	c := s.T(m.ctx.Forward(z))
	sz := c.MustSize()
	flat := s.T(c.MustReshape([]int64{-1, sz[3]}, false))
	preds := make([]*ts.Tensor, len(m.pred))
	for i, w := range m.pred {
		preds[i] = s.T(s.T(w.Forward(flat)).MustReshape([]int64{sz[0], sz[1], sz[2], m.h.Dim}, false))
	}
	return s.T(ts.MustStack(preds, 0))
}

// Step predicts the latents of the grid view from their context, evaluates
// the loss, updates the context network and predictors when req.Train, and
// returns the gradient for the latents.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := req.Features.Get(key)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("cpcv2 step: %w; the host must send the grid view of the Spec", err)
	}
	side := int64(method.Grid{Patch: m.patch, Stride: m.stride}.Side(m.size))
	if sz := f.MustSize(); len(sz) != 4 || sz[1] != side || sz[2] != side || sz[3] != m.h.Dim {
		return method.StepResponse{}, fmt.Errorf("cpcv2 step: feature %s has shape %v, want [N, %d, %d, %d]: a %d×%d grid of patch latents (a host that cuts views into grids, method.View.Grid)", key, sz, side, side, m.h.Dim, side, side)
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	leaf := s.T(nn.Leaf(f))
	z := methodkit.ToHead(s, leaf, m.h.Dev)
	loss, err := Loss(z, m.predict(s, z), m.minOffset)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("cpcv2 step: %w", err)
	}
	s.T(loss)
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("cpcv2 step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{key}, []*ts.Tensor{leaf})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("cpcv2 step: %w", err)
	}
	// log(N·G·G) is the loss of a guess: the metric shows how far below it
	// the predictions are.
	chance := math.Log(float64(f.MustSize()[0] * side * side))
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"chance_loss": chance}, Grads: g}, nil
}

// Save writes the context network, the predictors, Adam's moments and the
// step counts.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the heads and the optimizer.
func (m *Method) Close() error {
	m.h.Release()
	m.ctx, m.pred = nil, nil
	return nil
}
