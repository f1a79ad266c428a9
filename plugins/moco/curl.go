package moco

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// CURLName is the id of CURL.
const CURLName = "curl"

// CURLConstructor makes fresh CURL methods.
func CURLConstructor() method.Constructor {
	return method.Constructor{
		Name:    CURLName,
		Summary: "CURL: bilinear InfoNCE of anchor encodings against EMA-encoded positives (pixel RL)",
		New:     func() method.Method { return NewCURL() },
	}
}

// CURLDefaults follow MishaLaskin/curl's train.py: the CPC optimizer is
// Adam at encoder_lr 1e-3, and encoder_tau 0.05 makes the key encoder an
// EMA with momentum 0.95.
func CURLDefaults() method.Params {
	return method.Params{"lr": 1e-3, "momentum": 0.95}
}

// BilinearLoss is CURL's loss (METHODS.md's curl section): logits
// L = z_a W z_posᵀ, minus each row's maximum (not detached, as the
// reference; CE is shift-invariant), and the mean CE with the positive on
// the diagonal. The caller owns the result.
func BilinearLoss(za, zpos, w *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	wz := s.T(w.MustMatmul(s.T(zpos.MustT(false)), false)) // W z_posᵀ, [D, B]
	logits := s.T(za.MustMatmul(wz, false))
	rowMax := s.T(logits.MustAmax([]int64{1}, true, false))
	logits = s.T(logits.MustSub(rowMax, false))
	labels := s.T(nn.Arange(za.MustSize()[0], za.MustDevice()))
	return nn.CrossEntropy(logits, labels)
}

// CURL owns the bilinear matrix W [D, D] and its optimizer; the host owns
// the encoder and its EMA copy, which encodes the positives.
type CURL struct {
	h        nn.Heads // heads, optimizer and counters
	momentum float64
	w        *ts.Tensor
}

// NewCURL returns a CURL method that still needs Setup.
func NewCURL() *CURL { return &CURL{h: nn.Heads{Name: CURLName}, momentum: 0.95} }

var (
	curlAnchor   = method.FeatureKey("anchor", "pooled", false)
	curlPositive = method.FeatureKey("positive", "pooled", true)
)

// Spec: an anchor crop through the encoder and a positive crop of the same
// observation through its EMA copy (momentum 0.95).
func (m *CURL) Spec() method.Spec {
	return method.Spec{
		Name: CURLName,
		Views: []method.View{
			{Name: "anchor", Recipe: "curl-crop", Online: true},
			{Name: "positive", Recipe: "curl-crop", Target: true},
		},
		Target:   &method.Target{Momentum: m.momentum, Schedule: method.Constant},
		Defaults: CURLDefaults(),
	}
}

// Setup makes W [D, D] uniform in [0, 1) (torch.rand, as the reference)
// from req.Seed, and its Adam optimizer.
func (m *CURL) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(CURLName, CURLDefaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	lr, err1 := p.Float("lr")
	mom, err2 := p.Float("momentum")
	if err := methodkit.FirstErr(err1, err2); err != nil {
		return method.SetupResponse{}, fmt.Errorf("curl setup: %w", err)
	}
	if mom < 0 || mom > 1 {
		return method.SetupResponse{}, fmt.Errorf("curl setup: momentum %v outside [0, 1]", mom)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.momentum = mom
	w, err := nn.Uniform(nn.NewRand(req.Seed), 0, 1, m.h.Dev, m.h.Dim, m.h.Dim)
	if err == nil {
		m.w, err = nn.AddParam(m.h.VS.Root(), "W", w)
	}
	if err == nil {
		err = m.h.Finish(lr, 0, nil)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("curl setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates BilinearLoss on roles z_a, z_pos [B, D] and W [D, D].
func (m *CURL) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "z_a", "z_pos", "W")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("curl loss: %w", err)
	}
	defer l.Drop()
	za, zp, w := l.T("z_a"), l.T("z_pos"), l.T("W")
	if err := matrices(CURLName, map[string]*ts.Tensor{"z_a": za, "z_pos": zp, "W": w}, [2]string{"z_a", "z_pos"}); err != nil {
		return method.LossOutput{}, err
	}
	if d := za.MustSize()[1]; !slices.Equal(w.MustSize(), []int64{d, d}) {
		return method.LossOutput{}, fmt.Errorf("curl loss: W has shape %v, want [%d, %d]", w.MustSize(), d, d)
	}
	loss := BilinearLoss(za, zp, w)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("curl loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step evaluates BilinearLoss on the anchor encodings and the EMA-encoded
// positives, updates W when training, and returns the anchors' gradient.
func (m *CURL) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	fa, err := methodkit.Feature(CURLName, req, curlAnchor, m.h.Dim, 1)
	if err != nil {
		return method.StepResponse{}, err
	}
	fp, err := methodkit.Feature(CURLName, req, curlPositive, m.h.Dim, 1)
	if err != nil {
		return method.StepResponse{}, err
	}
	if fa.MustSize()[0] != fp.MustSize()[0] {
		return method.StepResponse{}, fmt.Errorf("curl step: %d anchors but %d positives", fa.MustSize()[0], fp.MustSize()[0])
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	la := s.T(nn.Leaf(fa))
	za := methodkit.ToHead(s, la, m.h.Dev)
	zp := methodkit.ToHead(s, s.T(fp.MustDetach(false)), m.h.Dev)
	loss := s.T(BilinearLoss(za, zp, m.w))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("curl step %d: loss is %v; lower the learning rate or check the encodings", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{curlAnchor}, []*ts.Tensor{la})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("curl step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{}, Grads: g}, nil
}

// Save writes W and its optimizer state.
func (m *CURL) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up for the same D.
func (m *CURL) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, nil)
}

// Close frees W and the optimizer state.
func (m *CURL) Close() error {
	m.h.Release()
	m.w = nil
	return nil
}
