// Command selfsup-simmoco serves SimMoCo (Zhang et al., CVPR 2022), written against selfsup's method kit.
package main

import (
	"errors"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func main() { plugin.Serve(methodkit.Constructor(Def)) }

// Config is bash_files/simmoco.sh of ChaoningZhang/Dual-temperature, with Adam on the projector.
type Config struct {
	T        float64 `param:"temperature" default:"0.1" doc:"intra-anchor temperature (> 0)"`
	DTM      float64 `param:"dt_m" default:"10" doc:"inter-anchor temperature = temperature × dt_m (> 0)"`
	Momentum float64 `param:"momentum" default:"0.99" doc:"constant EMA momentum of trunk and projector"`
	Proj     int64   `param:"proj_dim" default:"128" doc:"hidden and output width of the Linear-ReLU-Linear projector"`
	LR       float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the projector"`
	WD       float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the projector"`
}

func (c *Config) Validate() error {
	if c.T <= 0 || c.DTM <= 0 || c.Momentum < 0 || c.Momentum > 1 || c.Proj <= 0 {
		return errors.New("want temperature > 0, dt_m > 0, momentum in [0, 1], proj_dim > 0")
	}
	return nil
}

var Def = methodkit.Def[Config]{
	Name: "simmoco", MinBatch: 2, Summary: "SimMoCo: dual-temperature InfoNCE of queries against EMA keys, no queue",
	Spec: func(c *Config) method.Spec { // v1, v2 through the trunk and through its EMA copy
		v := func(n string) method.View { return method.View{Name: n, Recipe: "mocov2", Online: true, Target: true} }
		return method.Spec{Views: []method.View{v("v1"), v("v2")}, Target: &method.Target{Momentum: c.Momentum}}
	},
	Build: func(h *methodkit.Heads, c *Config) (_ methodkit.Stepper, err error) {
		m, cfg := &step{c: *c}, nn.MLPConfig{Dims: []int64{h.Dim, c.Proj, c.Proj}} // no BatchNorm
		m.proj, err = nn.NewMLP(h.Sub("proj"), h.Rng, cfg)
		ema := h.EMATarget(func(p *gnn.Path) (err error) { m.key, err = nn.NewMLP(p.Sub("proj"), h.Rng, cfg); return })
		return m, errors.Join(err, ema, h.Adam(c.LR, c.WD))
	},
	Loss: &methodkit.Loss[Config]{Roles: []string{"q1", "q2", "k1", "k2"}, Fn: func(r method.Tensors, c *Config, _ method.Params) (*ts.Tensor, error) {
		if err := errors.Join(methodkit.SamePairs(r["q1"], r["q2"], 2), methodkit.SamePairs(r["k1"], r["k2"], 2), methodkit.SamePairs(r["q1"], r["k1"], 2)); err != nil {
			return nil, err
		}
		return loss([]*ts.Tensor{r["q1"], r["q2"]}, []*ts.Tensor{r["k1"], r["k2"]}, c), nil
	}},
}

type step struct {
	c         Config
	proj, key *nn.MLP
}

func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) { // queries from the projector, keys from its EMA copy
	return loss(s.Together(m.proj, "v1", "v2"), s.Stacked(m.key, s.Target("v1"), s.Target("v2")), &m.c), nil
}

func (m *step) AfterUpdate(s *methodkit.Step) error { return s.Heads.EMA(m.c.Momentum) } // EMA of the key projector

// loss is ½(dual(q1, k2) + dual(q2, k1)); with S = q̂k̂ᵀ and P^t = softmax(S/t) by rows,
// dual(q, k) = −mean_i w_i log P^τ_ii, w_i = (1 − P^(τ·dt_m)_ii) / (1 − P^τ_ii) detached.
func loss(q, k []*ts.Tensor, c *Config) *ts.Tensor {
	s, f := tensor.NewScope(), ts.FloatScalar
	defer s.Close()
	dual := func(q, k *ts.Tensor) *ts.Tensor {
		sim := s.T(s.T(nn.Normalize(q)).MustMm(s.T(s.T(nn.Normalize(k)).MustT(false)), false))
		logP := func(t float64) *ts.Tensor {
			return s.T(s.T(s.T(sim.MustDivScalar(f(t), false)).MustLogSoftmax(1, q.DType(), false)).MustDiag(0, false))
		}
		intra := logP(c.T) // 1 − P = −expm1(log P)
		w := s.T(s.T(s.T(logP(c.T*c.DTM).MustExpm1(false)).MustDiv(s.T(intra.MustExpm1(false)), false)).MustDetach(false))
		return s.T(s.T(w.MustMul(intra, false)).MustMean(q.DType(), false))
	}
	return s.T(dual(q[0], k[1]).MustAdd(dual(q[1], k[0]), false)).MustMulScalar(f(-0.5), false)
}
