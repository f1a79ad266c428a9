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
	"fmt"
	"math"
	"slices"

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

// Config follows zdaxie/PixPro's tools/pixpro_base_r50_100ep.sh
// (momentum 0.99 on a cosine, pixpro_ins_loss_weight 0), scaled to
// convnet-s's 128 channels: projector MLP2d 128-256-64 (2048-4096-256
// there) and Adam for the heads (the reference uses LARS at base lr 1.0,
// weight decay 1e-5).
type Config struct {
	PosRatio       float64 `param:"pos_ratio" default:"0.7" doc:"positives lie closer than this times the larger bin diagonal (pixpro_pos_ratio)"`
	P              float64 `param:"p" default:"2" doc:"exponent of the propagation similarity (pixpro_p)"`
	ClampValue     float64 `param:"clamp_value" default:"0" doc:"lower clamp of the propagation similarity (pixpro_clamp_value)"`
	TransformLayer int64   `param:"transform_layer" default:"1" doc:"layers of the value transform: 0, 1 or 2 (pixpro_transform_layer)"`
	ProjHidden     int64   `param:"proj_hidden" default:"256" doc:"hidden width of the per-position projector"`
	ProjOut        int64   `param:"proj_out" default:"64" doc:"output width of the projector"`
	LR             float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the heads"`
	WeightDecay    float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the heads"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.PosRatio <= 0 || c.P <= 0 || c.TransformLayer < 0 || c.TransformLayer > 2 {
		return fmt.Errorf("pos_ratio %v, p %v, transform_layer %d: want positive pos_ratio and p, transform_layer 0, 1 or 2", c.PosRatio, c.P, c.TransformLayer)
	}
	return nil
}

// target is the EMA of the trunk and of the key projector.
var target = method.Target{Momentum: Momentum, Schedule: method.Cosine, FinalMomentum: 1}

// Def is PixPro on the trunk's feature map layer for the method kit: two
// views with BYOL's recipes (PixPro's --aug BYOL), each through the trunk
// and its EMA target, the layer's map and both views' crop boxes.
func Def(layer string) methodkit.Def[Config] {
	key := tapName + "." + layer
	return methodkit.Def[Config]{
		Name:    Name,
		Summary: "PixPro: pixel propagation consistency between crops, positives by distance in the image (needs crop boxes)",
		Spec: func(*Config) method.Spec {
			t := target
			return method.Spec{
				Views: []method.View{
					{Name: "v1", Recipe: "byol1", Online: true, Target: true},
					{Name: "v2", Recipe: "byol2", Online: true, Target: true},
				},
				Target:       &t,
				Taps:         []method.Tap{{Name: tapName, Kind: method.Layer, Layers: []string{layer}}},
				PseudoLabels: []string{Boxes},
			}
		},
		Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) { return build(h, c, key) },
		Loss:  loss,
	}
}

// New returns PixPro on convnet-s's block5; it still needs Setup (Loss
// works at once).
func New() *methodkit.Method[Config] { return NewForLayer(DefaultLayer) }

// NewForLayer returns PixPro on the trunk's feature map layer (e.g.
// "layer4" of a ResNet).
func NewForLayer(layer string) *methodkit.Method[Config] { return methodkit.New(Def(layer)) }

// Constructor makes fresh PixPro methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def(DefaultLayer)) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// loss is RegressionLoss on roles q, k [N, C, H, W] and coord_q, coord_k
// [N, 4] with param pos_ratio: one regression_loss call.
var loss = &methodkit.Loss[Config]{
	Roles: []string{"q", "k", "coord_q", "coord_k"},
	Fn: func(r method.Tensors, c *Config, _ method.Params) (*ts.Tensor, error) {
		q, k := r["q"], r["k"]
		qs := q.MustSize()
		if len(qs) != 4 || !slices.Equal(qs, k.MustSize()) || q.DType() != k.DType() {
			return nil, fmt.Errorf("q %v %v, k %v %v: want two [N, C, H, W] of one shape and dtype", q.DType(), qs, k.DType(), k.MustSize())
		}
		bq, err := boxes(r["coord_q"], qs[0])
		if err != nil {
			return nil, fmt.Errorf("coord_q: %w", err)
		}
		bk, err := boxes(r["coord_k"], qs[0])
		if err != nil {
			return nil, fmt.Errorf("coord_k: %w", err)
		}
		return RegressionLoss(q, k, PositiveWeights(bq, bk, qs[2], qs[3], c.PosRatio)), nil
	},
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

// step is PixPro set up: the projector (and its EMA copy) and the value
// transform of the pixel propagation module.
type step struct {
	cfg       Config
	key       string // the tap key of the map, "map.<layer>"
	hh, ww    int64  // the map's height and width
	proj      *nn.MLP
	keyProj   *nn.MLP
	transform *nn.MLP // nil for transform_layer 0
}

// build makes the projector (1×1 convolutions as per-position Linears,
// BatchNorm over batch and positions as BatchNorm2d), the value transform
// and the EMA projector for FeatureDims[key] = [C, H, W].
func build(h *methodkit.Heads, c *Config, key string) (methodkit.Stepper, error) {
	dims := h.Dims[key]
	if len(dims) != 3 || dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 {
		return nil, fmt.Errorf("feature dims %v: want %q: [C, H, W], the trunk's feature map", h.Dims, key)
	}
	// The state's "dim" is the map's channels, so Load checks them.
	h.Dim = dims[0]
	m := &step{cfg: *c, key: key, hh: dims[1], ww: dims[2]}
	projCfg := nn.Projector(dims[0], c.ProjHidden, c.ProjOut)
	var err error
	if m.proj, err = nn.NewMLP(h.Sub("projector"), h.Rng, projCfg); err != nil {
		return nil, err
	}
	switch c.TransformLayer {
	case 1:
		m.transform, err = nn.NewMLP(h.Sub("value_transform"), h.Rng, nn.MLPConfig{Dims: []int64{c.ProjOut, c.ProjOut}})
	case 2:
		m.transform, err = nn.NewMLP(h.Sub("value_transform"), h.Rng, nn.Projector(c.ProjOut, c.ProjOut, c.ProjOut))
	}
	if err != nil {
		return nil, err
	}
	err = h.EMATarget(func(p *gnn.Path) (err error) {
		m.keyProj, err = nn.NewMLP(p.Sub("projector"), h.Rng, projCfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, h.Adam(c.LR, c.WeightDecay)
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
func (m *step) featprop(s *tensor.Scope, p *ts.Tensor, train bool) *ts.Tensor {
	value := p
	if m.transform != nil {
		sz := p.MustSize()
		asMap := s.T(p.MustView([]int64{sz[0], sz[1], sz[2], 1}, false))
		value = rows(s, m.transform, asMap, train)
	}
	value = normalizeC(s, value)
	f := normalizeC(s, p)
	att := s.T(s.T(f.MustTranspose(1, 2, false)).MustBmm(f, false))
	att = s.T(att.MustClampMin(ts.FloatScalar(m.cfg.ClampValue), false))
	if m.cfg.P < 1 {
		att = s.T(att.MustAddScalar(ts.FloatScalar(1e-6), false))
	}
	att = s.T(att.MustPowTensorScalar(ts.FloatScalar(m.cfg.P), false))
	out := s.T(value.MustBmm(s.T(att.MustTranspose(1, 2, false)), false))
	return normalizeC(s, out)
}

// Forward: predictions featprop(projector(map)) of both views, the EMA
// update of the key projector (training only, before the keys, as the
// reference), keys from the EMA projector on the target maps, and
// regression_loss(pred1, key2, box1, box2) + regression_loss(pred2, key1,
// box2, box1).
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	var bx [2][][4]float64
	for i, v := range []string{"v1", "v2"} {
		t, err := s.Req.Labels.Get(v + "/" + Boxes)
		if err != nil {
			return nil, fmt.Errorf("no crop boxes for view %s (%w); the host must send each view's augment.View.Boxes as the pseudo-label %q", v, err, v+"/"+Boxes)
		}
		if bx[i], err = boxes(t, s.N); err != nil {
			return nil, fmt.Errorf("view %s: %w", v, err)
		}
	}
	pred := func(v string) *ts.Tensor {
		return m.featprop(s.Scope, rows(s.Scope, m.proj, s.OnlineTap(v, m.key), s.Train), s.Train)
	}
	p1, p2 := pred("v1"), pred("v2")
	if _, err := s.EMA(target); err != nil {
		return nil, err
	}
	var k1, k2 *ts.Tensor
	nn.NoGrad(func() {
		key := func(v string) *ts.Tensor {
			return normalizeC(s.Scope, rows(s.Scope, m.keyProj, s.TargetTap(v, m.key), s.Train))
		}
		k1, k2 = key("v1"), key("v2")
	})
	shape := []int64{s.N, m.cfg.ProjOut, m.hh, m.ww}
	view := func(x *ts.Tensor) *ts.Tensor { return s.T(x.MustReshape(shape, false)) }
	a := s.T(RegressionLoss(view(p1), view(k2), PositiveWeights(bx[0], bx[1], m.hh, m.ww, m.cfg.PosRatio)))
	b := s.T(RegressionLoss(view(p2), view(k1), PositiveWeights(bx[1], bx[0], m.hh, m.ww, m.cfg.PosRatio)))
	return a.MustAdd(b, false), nil
}
