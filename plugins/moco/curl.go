package moco

import (
	"errors"
	"fmt"
	"slices"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// CURLName is the id of CURL.
const CURLName = "curl"

// CURLConfig follows MishaLaskin/curl's train.py: the CPC optimizer is Adam
// at encoder_lr 1e-3, and encoder_tau 0.05 makes the key encoder an EMA
// with momentum 0.95.
type CURLConfig struct {
	LR       float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of W (the reference's encoder_lr)"`
	Momentum float64 `param:"momentum" default:"0.95" doc:"EMA momentum of the key encoder (1 - encoder_tau), in [0, 1]"`
}

// Validate checks the config.
func (c *CURLConfig) Validate() error {
	if c.Momentum < 0 || c.Momentum > 1 {
		return fmt.Errorf("momentum %v outside [0, 1]", c.Momentum)
	}
	return nil
}

// CURLDef is CURL for the method kit: an anchor crop through the encoder
// and a positive crop of the same observation through its EMA copy; the
// method owns the bilinear matrix W [D, D] (torch.rand, as the reference)
// and its Adam. An RL host may add its critic's gradient to the one the
// step returns for the anchors: nothing here depends on it.
var CURLDef = methodkit.Def[CURLConfig]{
	Name: CURLName, Summary: "CURL: bilinear InfoNCE of anchor encodings against EMA-encoded positives (pixel RL)",
	Spec: func(c *CURLConfig) method.Spec {
		return method.Spec{Views: []method.View{
			{Name: "anchor", Recipe: "curl-crop", Online: true},
			{Name: "positive", Recipe: "curl-crop", Target: true},
		}, Target: &method.Target{Momentum: c.Momentum, Schedule: method.Constant}}
	},
	Build: func(h *methodkit.Heads, c *CURLConfig) (methodkit.Stepper, error) {
		w, err := nn.Uniform(h.Rng, 0, 1, h.Dev, h.Dim, h.Dim)
		if err != nil {
			return nil, err
		}
		m := &curlStep{}
		m.w, err = nn.AddParam(h.VS.Root(), "W", w)
		return m, errors.Join(err, h.Adam(c.LR, 0))
	},
	Loss: &methodkit.Loss[CURLConfig]{Roles: []string{"z_a", "z_pos", "W"}, Fn: func(r method.Tensors, _ *CURLConfig, _ method.Params) (*ts.Tensor, error) {
		za, zp, w := r["z_a"], r["z_pos"], r["W"]
		if err := matrices(map[string]*ts.Tensor{"z_a": za, "z_pos": zp, "W": w}, [2]string{"z_a", "z_pos"}); err != nil {
			return nil, err
		}
		if d := za.MustSize()[1]; !slices.Equal(w.MustSize(), []int64{d, d}) {
			return nil, fmt.Errorf("W has shape %v, want [%d, %d]", w.MustSize(), d, d)
		}
		return BilinearLoss(za, zp, w), nil
	}},
}

// NewCURL returns a CURL method that still needs Setup.
func NewCURL() *methodkit.Method[CURLConfig] { return methodkit.New(CURLDef) }

// CURLConstructor makes fresh CURL methods.
func CURLConstructor() method.Constructor { return methodkit.Constructor(CURLDef) }

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

type curlStep struct{ w *ts.Tensor }

// Forward is BilinearLoss on the anchor encodings and the EMA-encoded
// positives.
func (m *curlStep) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	return BilinearLoss(s.Online("anchor"), s.Target("positive"), m.w), nil
}
