package moco

import (
	"errors"
	"fmt"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MoCoV3Name is the id of MoCo v3.
const MoCoV3Name = "mocov3"

// MoCoV3Config scales the official ResNet recipe (T 1.0, momentum 0.99 on
// a cosine schedule to 1, 3-layer projector 4096-4096-256 with a last BN
// without affine, 2-layer predictor 4096-256, linears without bias before
// a BN) down to Fashion-MNIST: projector D-256-64, predictor 64-256-64,
// Adam lr 1e-3, weight decay 1e-6.
type MoCoV3Config struct {
	T           float64 `param:"T" default:"1.0" doc:"InfoNCE temperature (> 0)"`
	Momentum    float64 `param:"momentum" default:"0.99" doc:"EMA momentum at the start of the cosine schedule to 1, in [0, 1]"`
	ProjHidden  int64   `param:"proj_hidden" default:"256" doc:"hidden width of the projector"`
	ProjOut     int64   `param:"proj_out" default:"64" doc:"output width of projector and predictor"`
	PredHidden  int64   `param:"pred_hidden" default:"256" doc:"hidden width of the predictor"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the heads"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the heads"`
}

// Validate checks the config.
func (c *MoCoV3Config) Validate() error {
	if c.T <= 0 || c.Momentum < 0 || c.Momentum > 1 {
		return fmt.Errorf("T %v, momentum %v: want T > 0, momentum in [0, 1]", c.T, c.Momentum)
	}
	return nil
}

func (c *MoCoV3Config) target() method.Target {
	return method.Target{Momentum: c.Momentum, Schedule: method.Cosine, FinalMomentum: 1}
}

// MoCoV3Def is MoCo v3 for the method kit: views v1 (byol1) and v2 (byol2),
// each through the trunk (projector and predictor give the queries) and
// through its EMA target (the EMA projector gives the keys).
var MoCoV3Def = methodkit.Def[MoCoV3Config]{
	Name: MoCoV3Name, Summary: "MoCo v3: symmetric in-batch InfoNCE of predicted queries against EMA keys",
	Spec: func(c *MoCoV3Config) method.Spec {
		t := c.target()
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "byol1", Online: true, Target: true},
			{Name: "v2", Recipe: "byol2", Online: true, Target: true},
		}, Target: &t}
	},
	Build: func(h *methodkit.Heads, c *MoCoV3Config) (methodkit.Stepper, error) {
		projCfg := nn.MLPConfig{Dims: []int64{h.Dim, c.ProjHidden, c.ProjOut}, BatchNorm: true, NoHiddenBias: true, LastBN: true}
		predCfg := nn.MLPConfig{Dims: []int64{c.ProjOut, c.PredHidden, c.ProjOut}, BatchNorm: true, NoHiddenBias: true}
		m := &mocoV3Step{c: *c}
		var err error
		if m.proj, err = nn.NewMLP(h.Sub("proj"), h.Rng, projCfg); err != nil {
			return m, err
		}
		if m.pred, err = nn.NewMLP(h.Sub("pred"), h.Rng, predCfg); err != nil {
			return m, err
		}
		err = h.EMATarget(func(p *gnn.Path) (err error) {
			m.keyProj, err = nn.NewMLP(p.Sub("proj"), h.Rng, projCfg)
			return err
		})
		return m, errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	Loss: &methodkit.Loss[MoCoV3Config]{Roles: []string{"q1", "q2", "k1", "k2"}, Fn: func(r method.Tensors, c *MoCoV3Config, _ method.Params) (*ts.Tensor, error) {
		if err := matrices(map[string]*ts.Tensor{"q1": r["q1"], "q2": r["q2"], "k1": r["k1"], "k2": r["k2"]}, [2]string{"q1", "k2"}, [2]string{"q2", "k1"}, [2]string{"q1", "q2"}); err != nil {
			return nil, err
		}
		return SymmetricLoss(r["q1"], r["q2"], r["k1"], r["k2"], c.T), nil
	}},
}

// NewMoCoV3 returns a MoCo v3 method that still needs Setup.
func NewMoCoV3() *methodkit.Method[MoCoV3Config] { return methodkit.New(MoCoV3Def) }

// MoCoV3Constructor makes fresh MoCo v3 methods.
func MoCoV3Constructor() method.Constructor { return methodkit.Constructor(MoCoV3Def) }

// Contrastive is MoCo v3's ctr(q, k) = 2T · mean_i CE(q̂_i K̂ᵀ / T, i).
// The caller owns the result.
func Contrastive(q, k *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	qn := s.T(nn.Normalize(q))
	kn := s.T(nn.Normalize(k))
	logits := s.T(qn.MustMatmul(s.T(kn.MustT(false)), false))
	logits = s.T(logits.MustDivScalar(ts.FloatScalar(t), false))
	labels := s.T(nn.Arange(q.MustSize()[0], q.MustDevice()))
	ce := s.T(nn.CrossEntropy(logits, labels))
	return ce.MustMulScalar(ts.FloatScalar(2*t), false)
}

// SymmetricLoss is ctr(q1, k2) + ctr(q2, k1) (METHODS.md's mocov3 section).
// The caller owns the result.
func SymmetricLoss(q1, q2, k1, k2 *ts.Tensor, t float64) *ts.Tensor {
	a := Contrastive(q1, k2, t)
	b := Contrastive(q2, k1, t)
	defer a.MustDrop()
	defer b.MustDrop()
	return a.MustAdd(b, false)
}

type mocoV3Step struct {
	c                   MoCoV3Config
	proj, pred, keyProj *nn.MLP
}

// Forward: queries pred(proj(v)) per view (separate BN batches, as the
// reference), EMA update of the key projector (training only, before the
// keys), keys from the EMA projector on the target features, the
// symmetric loss.
func (m *mocoV3Step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	query := func(v string) *ts.Tensor {
		return s.T(m.pred.Forward(s.T(m.proj.Forward(s.Online(v), s.Train)), s.Train))
	}
	q1, q2 := query("v1"), query("v2")
	if _, err := s.EMA(m.c.target()); err != nil {
		return nil, err
	}
	k1 := s.T(m.keyProj.Forward(s.Target("v1"), s.Train))
	k2 := s.T(m.keyProj.Forward(s.Target("v2"), s.Train))
	return SymmetricLoss(q1, q2, k1, k2, m.c.T), nil
}
