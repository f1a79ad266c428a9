// Package pixpro is PixPro (Xie et al. 2021, "Propagate Yourself"):
// pixel-level consistency between two crops of an image. A projector maps
// each position of a trunk feature map to a vector, a pixel propagation
// module smooths the online vectors with their own similarity, and each
// propagated vector is pulled toward the momentum projector's vectors of
// the other crop at the positions that lie close to it in the original
// image. The Spec asks for a feature map (a Layer tap) and for the crop
// boxes of both views. Import it to run PixPro in process, or serve it with
// the plugin binary in cmd/selfsup-pixpro.
//
// Boxes reach the method as the pseudo-labels "<view>/boxes": float [N, 4]
// crop boxes x0, y0, x1, y1 in the input image's pixel coordinates, a
// flipped crop with x0 > x1 (sdk/augment's View.Boxes). A host must send
// them (see Spec.PseudoLabels); the distances PixPro thresholds are
// divided by a bin diagonal, so any coordinates proportional to the
// image's (pixels of a square image, or PixPro's normalised ones) give the
// same positives.
package pixpro

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Name is the method id.
const Name = "pixpro"

// Boxes is the pseudo-label name of the views' crop boxes.
const Boxes = "boxes"

// DefaultLayer is the feature map the default Spec taps: convnet-s's last
// block (7×7 for 28×28 images), as PixPro taps ResNet's C5.
const DefaultLayer = "block5"

// tapName is the name of the Layer tap; features arrive as
// "<view>/map.<layer>".
const tapName = "map"

// Momentum is pixpro_momentum: the EMA coefficient of the key encoder and
// projector, raised to 1 along a cosine over training.
const Momentum = 0.99

// Constructor makes fresh PixPro methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "PixPro: pixel propagation consistency between crops, positives by distance in the image (needs crop boxes)",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults follow zdaxie/PixPro's tools/pixpro_base_r50_100ep.sh
// (pixpro_p 2, pixpro_pos_ratio 0.7, pixpro_transform_layer 1,
// pixpro_clamp_value 0, pixpro_ins_loss_weight 0, momentum 0.99 on a
// cosine), scaled to convnet-s's 128 channels: projector MLP2d 128-256-64
// (2048-4096-256 there) and Adam at lr 1e-3 with weight decay 1e-6 for the
// heads (the reference uses LARS at base lr 1.0, weight decay 1e-5).
func Defaults() method.Params {
	return method.Params{
		"pos_ratio": 0.7, "p": 2.0, "clamp_value": 0.0, "transform_layer": int64(1),
		"proj_hidden": int64(256), "proj_out": int64(64),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// PositiveWeights returns, for crop boxes bq, bk [N][4] and an H×W map,
// the [N, H·W, H·W] weights m_ij / (Σ m + 1e-6) of regression_loss, where
// m_ij = 1 when the centres of bin i of q's box and bin j of k's box lie
// closer than posRatio times the larger bin diagonal (strictly). The
// denominator is evaluated in float32, as the reference's float mask.
func PositiveWeights(bq, bk [][4]float64, h, w int64, posRatio float64) []float64 {
	hw := h * w
	out := make([]float64, int64(len(bq))*hw*hw)
	cx := make([]float64, 2*hw)
	cy := make([]float64, 2*hw)
	for n := range bq {
		var diag [2]float64
		for s, b := range [2][4]float64{bq[n], bk[n]} {
			bw, bh := (b[2]-b[0])/float64(w), (b[3]-b[1])/float64(h)
			diag[s] = math.Sqrt(bw*bw + bh*bh)
			for y := range h {
				for x := range w {
					cx[int64(s)*hw+y*w+x] = (float64(x)+0.5)*bw + b[0]
					cy[int64(s)*hw+y*w+x] = (float64(y)+0.5)*bh + b[1]
				}
			}
		}
		maxDiag := max(diag[0], diag[1])
		m := out[int64(n)*hw*hw : int64(n+1)*hw*hw]
		var count float32
		for i := range hw {
			for j := range hw {
				dx, dy := cx[i]-cx[hw+j], cy[i]-cy[hw+j]
				if math.Sqrt(dx*dx+dy*dy)/maxDiag < posRatio {
					m[i*hw+j] = 1
					count++
				}
			}
		}
		den := float64(count + float32(1e-6))
		for i := range m {
			m[i] /= den
		}
	}
	return out
}

// RegressionLoss is PixPro.py's regression_loss (METHODS.md's pixpro
// section) given PositiveWeights wts [N·HW·HW]: with q, k [N, C, H, W],
// −2·mean_n Σ_ij wts_nij · (q_{n,:,i} · k_{n,:,j}). k takes no gradient.
// The caller owns the result.
func RegressionLoss(q, k *ts.Tensor, wts []float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	sz := q.MustSize()
	n, c, hw := sz[0], sz[1], sz[2]*sz[3]
	qf := s.T(q.MustView([]int64{n, c, hw}, false))
	kf := s.T(s.T(k.MustDetach(false)).MustView([]int64{n, c, hw}, false))
	logit := s.T(s.T(qf.MustTranspose(1, 2, false)).MustBmm(kf, false)) // [N, HW, HW]
	wt, err := tensor.FromFloat64(wts, n, hw, hw)
	if err != nil {
		panic(err) // PositiveWeights fills the shape
	}
	wt = s.T(wt.MustTotype(q.DType(), true).MustTo(q.MustDevice(), true))
	total := s.T(s.T(logit.MustMul(wt, false)).MustSum(q.DType(), false))
	return total.MustMulScalar(ts.FloatScalar(-2/float64(n)), false)
}

// boxes reads a [N, 4] float tensor into per-sample boxes.
func boxes(t *ts.Tensor, n int64) ([][4]float64, error) {
	if sz := t.MustSize(); len(sz) != 2 || sz[0] != n || sz[1] != 4 {
		return nil, fmt.Errorf("boxes of shape %v, want [%d, 4]", sz, n)
	}
	if dt := t.DType(); dt != gotch.Float && dt != gotch.Double {
		return nil, fmt.Errorf("boxes are %v, want float", dt)
	}
	c := t.MustTo(gotch.CPU, false).MustTotype(gotch.Double, true).MustContiguous(true)
	defer c.MustDrop()
	v, err := tensor.Float64s(c)
	if err != nil {
		return nil, err
	}
	out := make([][4]float64, n)
	for i := range out {
		copy(out[i][:], v[4*i:4*i+4])
	}
	return out, nil
}

// config is the merged, checked configuration.
type config struct {
	posRatio, p, clamp, lr, wd float64
	transform, hidden, out     int64
}

func readConfig(over method.Params) (config, error) {
	p, err := methodkit.Params(Name, Defaults(), over)
	if err != nil {
		return config{}, err
	}
	var c config
	var e [8]error
	c.posRatio, e[0] = p.Float("pos_ratio")
	c.p, e[1] = p.Float("p")
	c.clamp, e[2] = p.Float("clamp_value")
	c.transform, e[3] = p.Int("transform_layer")
	c.hidden, e[4] = p.Int("proj_hidden")
	c.out, e[5] = p.Int("proj_out")
	c.lr, e[6] = p.Float("lr")
	c.wd, e[7] = p.Float("weight_decay")
	if err := errors.Join(e[:]...); err != nil {
		return c, fmt.Errorf("pixpro: %w", err)
	}
	if c.posRatio <= 0 || c.p <= 0 || c.transform < 0 || c.transform > 2 {
		return c, fmt.Errorf("pixpro: pos_ratio %v, p %v, transform_layer %d: want positive pos_ratio and p, transform_layer 0, 1 or 2", c.posRatio, c.p, c.transform)
	}
	return c, nil
}

// Method is PixPro: the projector (and its EMA copy) and the value
// transform of the pixel propagation module.
type Method struct {
	h         nn.Heads // projector + transform, Adam, EMA projector
	cfg       config
	layer     string
	c, hh, ww int64 // feature map shape
	proj      *nn.MLP
	keyProj   *nn.MLP
	transform *nn.MLP // nil for transform_layer 0
}

// New returns PixPro on convnet-s's block5; it still needs Setup (Loss
// works at once).
func New() *Method { return NewForLayer(DefaultLayer) }

// NewForLayer returns PixPro on the trunk's feature map layer (e.g.
// "layer4" of a ResNet).
func NewForLayer(layer string) *Method { return &Method{h: nn.Heads{Name: Name}, layer: layer} }

// featureKey is the key of a view's feature map.
func (m *Method) featureKey(view string, target bool) string {
	return method.FeatureKey(view, tapName+"."+m.layer, target)
}

// Spec: two views with BYOL's recipes (PixPro's --aug BYOL), each through
// the trunk and its EMA target (momentum 0.99 to 1 on a cosine), the
// feature map of the layer, and the crop boxes of both views.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: Name,
		Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true, Target: true},
			{Name: "v2", Recipe: "byol2", Online: true, Target: true},
		},
		Target:       &method.Target{Momentum: Momentum, Schedule: method.Cosine, FinalMomentum: 1},
		Taps:         []method.Tap{{Name: tapName, Kind: method.Layer, Layers: []string{m.layer}}},
		PseudoLabels: []string{Boxes},
		Defaults:     Defaults(),
	}
}

// Setup builds the projector (1×1 convolutions as per-position Linears,
// BatchNorm over batch and positions as BatchNorm2d), its EMA copy and the
// value transform, for FeatureDims["map.<layer>"] = [C, H, W].
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	cfg, err := readConfig(req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	key := tapName + "." + m.layer
	dims, ok := req.FeatureDims[key]
	if !ok || len(dims) != 3 || dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 {
		return method.SetupResponse{}, fmt.Errorf("pixpro setup: feature dims %v: want %q: [C, H, W], the trunk's %s feature map", req.FeatureDims, key, m.layer)
	}
	dev, err := tensor.ParseDevice(req.Device)
	if err != nil {
		return method.SetupResponse{}, fmt.Errorf("pixpro setup: %w", err)
	}
	m.Close()
	m.cfg = cfg
	m.c, m.hh, m.ww = dims[0], dims[1], dims[2]
	m.h.Dim, m.h.Dev, m.h.Steps, m.h.Total = m.c, dev, 0, req.TotalSteps
	m.h.VS = gnn.NewVarStore(dev)
	rng := nn.NewRand(req.Seed)
	projCfg := nn.Projector(m.c, cfg.hidden, cfg.out)
	m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("projector"), rng, projCfg)
	if err == nil {
		switch cfg.transform {
		case 1:
			m.transform, err = nn.NewMLP(m.h.VS.Root().Sub("value_transform"), rng, nn.MLPConfig{Dims: []int64{cfg.out, cfg.out}})
		case 2:
			m.transform, err = nn.NewMLP(m.h.VS.Root().Sub("value_transform"), rng, nn.Projector(cfg.out, cfg.out, cfg.out))
		}
	}
	if err == nil {
		err = m.h.Finish(cfg.lr, cfg.wd, func(vs *gnn.VarStore) error {
			var err error
			m.keyProj, err = nn.NewMLP(vs.Root().Sub("projector"), rng, projCfg)
			return err
		})
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("pixpro setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates RegressionLoss on roles q, k [N, C, H, W] and coord_q,
// coord_k [N, 4] with param pos_ratio: one regression_loss call.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	pr, err := in.Params.Float("pos_ratio")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "q", "k", "coord_q", "coord_k")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: %w", err)
	}
	defer l.Drop()
	q, k := l.T("q"), l.T("k")
	qs := q.MustSize()
	if len(qs) != 4 || fmt.Sprint(qs) != fmt.Sprint(k.MustSize()) || q.DType() != k.DType() {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: q %v %v, k %v %v: want two [N, C, H, W] of one shape and dtype", q.DType(), qs, k.DType(), k.MustSize())
	}
	bq, err := boxes(l.T("coord_q"), qs[0])
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: coord_q: %w", err)
	}
	bk, err := boxes(l.T("coord_k"), qs[0])
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: coord_k: %w", err)
	}
	loss := RegressionLoss(q, k, PositiveWeights(bq, bk, qs[2], qs[3], pr))
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("pixpro loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// rows maps a [N, C, H, W] map through an MLP of 1×1 convolutions: the
// positions become rows [N·H·W, C], and the result is [N, C', H·W].
func rows(s *tensor.Scope, mlp *nn.MLP, x *ts.Tensor, train bool) *ts.Tensor {
	sz := x.MustSize()
	n, c, hw := sz[0], sz[1], sz[2]*sz[3]
	r := s.T(s.T(s.T(x.MustView([]int64{n, c, hw}, false)).MustTranspose(1, 2, false)).MustReshape([]int64{n * hw, c}, false))
	y := s.T(mlp.Forward(r, train))
	return s.T(s.T(y.MustView([]int64{n, hw, mlp.OutDim()}, false)).MustTranspose(1, 2, false))
}

// normalizeC normalises [N, C, L] over C (F.normalize(dim=1)).
func normalizeC(s *tensor.Scope, x *ts.Tensor) *ts.Tensor {
	nrm := s.T(s.T(x.MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, true, false)).MustClampMin(ts.FloatScalar(1e-12), false))
	return s.T(x.MustDiv(nrm, false))
}

// featprop is the pixel propagation module on projections p [N, C, HW]:
// values = normalize(transform(p)), similarity = clamp(p̂ᵀp̂, clamp)^p,
// result values · similarityᵀ, normalised over C.
func (m *Method) featprop(s *tensor.Scope, p *ts.Tensor, train bool) *ts.Tensor {
	value := p
	if m.transform != nil {
		sz := p.MustSize()
		asMap := s.T(p.MustView([]int64{sz[0], sz[1], sz[2], 1}, false))
		value = rows(s, m.transform, asMap, train)
	}
	value = normalizeC(s, value)
	f := normalizeC(s, p)
	att := s.T(s.T(f.MustTranspose(1, 2, false)).MustBmm(f, false))
	att = s.T(att.MustClampMin(ts.FloatScalar(m.cfg.clamp), false))
	if m.cfg.p < 1 {
		att = s.T(att.MustAddScalar(ts.FloatScalar(1e-6), false))
	}
	att = s.T(att.MustPowTensorScalar(ts.FloatScalar(m.cfg.p), false))
	out := s.T(value.MustBmm(s.T(att.MustTranspose(1, 2, false)), false))
	return normalizeC(s, out)
}

// Step: EMA update of the key projector (training only, before the keys,
// as the reference), predictions featprop(projector(map)) of both views,
// keys from the EMA projector on the target maps, and
// regression_loss(pred1, key2, box1, box2) + regression_loss(pred2, key1,
// box2, box1); head update; gradients for both online maps.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	var f [4]*ts.Tensor
	keys := [4]string{m.featureKey("v1", false), m.featureKey("v2", false), m.featureKey("v1", true), m.featureKey("v2", true)}
	want := fmt.Sprint([]int64{m.c, m.hh, m.ww})
	var n int64
	for i, key := range keys {
		x, err := req.Features.Get(key)
		if err != nil {
			return method.StepResponse{}, fmt.Errorf("pixpro step: %w; the host must send the views and the layer tap of the Spec", err)
		}
		sz := x.MustSize()
		if len(sz) != 4 || fmt.Sprint(sz[1:]) != want || (i > 0 && sz[0] != n) || (x.DType() != gotch.Float && x.DType() != gotch.Double) {
			return method.StepResponse{}, fmt.Errorf("pixpro step: feature %s is %v %v, want float [N, %s] (the shape given to Setup)", key, x.DType(), sz, want)
		}
		f[i], n = x, sz[0]
	}
	var bx [2][][4]float64
	for i, v := range []string{"v1", "v2"} {
		t, err := req.Labels.Get(v + "/" + Boxes)
		if err != nil {
			return method.StepResponse{}, fmt.Errorf("pixpro step: no crop boxes for view %s (%w); the host must send each view's augment.View.Boxes as the pseudo-label %q", v, err, v+"/"+Boxes)
		}
		if bx[i], err = boxes(t, n); err != nil {
			return method.StepResponse{}, fmt.Errorf("pixpro step: view %s: %w", v, err)
		}
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f[0])), s.T(nn.Leaf(f[1]))
	pred := func(x *ts.Tensor) *ts.Tensor {
		return m.featprop(s, rows(s, m.proj, methodkit.ToHead(s, x, m.h.Dev), req.Train), req.Train)
	}
	p1, p2 := pred(l1), pred(l2)
	mom := method.Target{Momentum: Momentum, Schedule: method.Cosine, FinalMomentum: 1}.MomentumAt(req.Step, m.h.Total)
	if req.Train {
		if err := nn.EMA(m.h.Target, m.h.VS, mom, nn.KeepBuffers); err != nil {
			return method.StepResponse{}, fmt.Errorf("pixpro step: %w", err)
		}
	}
	var k1, k2 *ts.Tensor
	nn.NoGrad(func() {
		key := func(x *ts.Tensor) *ts.Tensor {
			return normalizeC(s, rows(s, m.keyProj, methodkit.ToHead(s, s.T(x.MustDetach(false)), m.h.Dev), req.Train))
		}
		k1, k2 = key(f[2]), key(f[3])
	})
	shape := []int64{n, m.cfg.out, m.hh, m.ww}
	view := func(x *ts.Tensor) *ts.Tensor { return s.T(x.MustReshape(shape, false)) }
	a := s.T(RegressionLoss(view(p1), view(k2), PositiveWeights(bx[0], bx[1], m.hh, m.ww, m.cfg.posRatio)))
	b := s.T(RegressionLoss(view(p2), view(k1), PositiveWeights(bx[1], bx[0], m.hh, m.ww, m.cfg.posRatio)))
	loss := s.T(a.MustAdd(b, false))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("pixpro step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g1, err := nn.Grad(l1)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("pixpro step: %w", err)
	}
	g2, err := nn.Grad(l2)
	if err != nil {
		g1.MustDrop()
		return method.StepResponse{}, fmt.Errorf("pixpro step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"momentum": mom}, Grads: method.Tensors{keys[0]: g1, keys[1]: g2}}, nil
}

// Save writes the projector, the value transform, the EMA projector, the
// optimizer and the step counts.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config
// and feature map.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees the heads and the optimizer.
func (m *Method) Close() error {
	m.h.Release()
	m.proj, m.keyProj, m.transform = nil, nil, nil
	return nil
}
