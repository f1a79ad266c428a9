package sac

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Agent is SAC as CURL's CurlSacAgent runs it: an actor and twin-Q critic
// sharing the critic's convolutions, a target critic tracking the critic
// by EMA, and a learned temperature. It is not safe for concurrent use.
type Agent struct {
	cfg                           Config
	dev                           gotch.Device
	criticVS, actorVS, targetVS   *gnn.VarStore
	alphaVS                       *gnn.VarStore
	critic, target                *critic
	actor                         *actor
	logAlpha                      *ts.Tensor
	criticOpt, actorOpt, alphaOpt optim.Optimizer
	encOpt                        optim.Optimizer // auxiliary steps of the critic's encoder
	noise                         *rand.Rand
	noiseSrc                      *rand.PCG
	targetEntropy                 float64
	emaQ, emaEnc                  [2][]*ts.Tensor // target, online
}

// New builds the networks on dev, initialised as CURL's weight_init
// (orthogonal linear maps, delta-orthogonal convolutions, zero biases)
// from cfg.Seed, with the target critic a copy of the critic.
func New(cfg Config, dev gotch.Device) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ac))
	src := rand.NewPCG(cfg.Seed, 0x401e)
	a := &Agent{cfg: cfg, dev: dev, noise: rand.New(src), noiseSrc: src, targetEntropy: -float64(cfg.ActionDim)}
	a.criticVS, a.actorVS, a.targetVS, a.alphaVS = gnn.NewVarStore(dev), gnn.NewVarStore(dev), gnn.NewVarStore(dev), gnn.NewVarStore(dev)
	var err error
	if a.critic, err = newCritic(a.criticVS.Root(), rng, &cfg); err != nil {
		return nil, fmt.Errorf("sac: critic: %w", err)
	}
	if a.target, err = newCritic(a.targetVS.Root(), rng, &cfg); err != nil {
		return nil, fmt.Errorf("sac: target critic: %w", err)
	}
	if err := nn.CopyVars(a.targetVS, a.criticVS); err != nil {
		return nil, err
	}
	if err := nn.Freeze(a.targetVS); err != nil {
		return nil, err
	}
	enc, err := newEncoder(a.actorVS.Root().Sub("encoder"), rng, &cfg, a.critic.enc.convs)
	if err != nil {
		return nil, fmt.Errorf("sac: actor encoder: %w", err)
	}
	a.actor = &actor{enc: enc, logStdMin: cfg.LogStdMin, range_: cfg.LogStdMax - cfg.LogStdMin, actions: int64(cfg.ActionDim)}
	if a.actor.trunk, err = newMLP(a.actorVS.Root(), rng, enc.dim, int64(cfg.Hidden), 2*int64(cfg.ActionDim)); err != nil {
		return nil, fmt.Errorf("sac: actor: %w", err)
	}
	la, err := nn.Filled(float32(math.Log(cfg.InitTemperature)), dev)
	if err != nil {
		return nil, err
	}
	if a.logAlpha, err = nn.AddParam(a.alphaVS.Root(), "log_alpha", la); err != nil {
		return nil, err
	}
	adam := func(lr, b1 float64, vs *gnn.VarStore) (optim.Optimizer, error) {
		return optim.New(optim.Config{Name: "adam", LR: lr, Beta1: b1}, optim.Params(vs))
	}
	if a.criticOpt, err = adam(cfg.CriticLR, cfg.CriticBeta, a.criticVS); err != nil {
		return nil, err
	}
	if a.actorOpt, err = adam(cfg.ActorLR, cfg.ActorBeta, a.actorVS); err != nil {
		return nil, err
	}
	if a.alphaOpt, err = adam(cfg.AlphaLR, cfg.AlphaBeta, a.alphaVS); err != nil {
		return nil, err
	}
	online := a.criticVS.Variables()
	for name, t := range a.targetVS.Variables() {
		o, tt := online[name], t
		pair := &a.emaQ
		if strings.HasPrefix(name, "encoder.") {
			pair = &a.emaEnc
		}
		pair[0], pair[1] = append(pair[0], &tt), append(pair[1], &o)
	}
	return a, nil
}

// Config returns the agent's configuration.
func (a *Agent) Config() Config { return a.cfg }

// Alpha is the current temperature.
func (a *Agent) Alpha() float64 { return math.Exp(nn.Item(a.logAlpha)) }

// Act returns actions [N·|A|] for observations obs [N, …] (pixels as
// 0…255 floats, already cropped to ObsShape): the squashed mean when
// deterministic (CURL's select_action, for evaluation), else a sample of
// the policy (sample_action, for collecting).
func (a *Agent) Act(obs *ts.Tensor, deterministic bool) ([]float64, error) {
	var out []float64
	var err error
	tensor.NoGrad(func() {
		var noise *ts.Tensor
		if !deterministic {
			if noise, err = a.normal(obs.MustSize()[0]); err != nil {
				return
			}
			defer noise.MustDrop()
		}
		p := a.actor.forward(obs, noise, false)
		defer p.drop()
		act := p.mu
		if !deterministic {
			act = p.pi
		}
		out, err = tensor.AsFloat64s(act)
	})
	return out, err
}

// normal is standard normal noise [n, |A|] from the agent's own stream
// (so that a saved agent resumes it).
func (a *Agent) normal(n int64) (*ts.Tensor, error) {
	return nn.Normal(a.noise, a.dev, n, int64(a.cfg.ActionDim))
}

// Batch is a training batch on the agent's device: Obs and Next [N, …]
// (pixels as 0…255 floats), Action [N, |A|], Reward and NotDone [N, 1];
// Pos, for an auxiliary objective, another crop of Obs (Update ignores
// it).
type Batch struct {
	Obs, Action, Reward, Next, NotDone, Pos *ts.Tensor
}

// Stats are one update's numbers.
type Stats struct {
	CriticLoss, Q float64
	// ActorUpdated says whether this update moved the actor and α (every
	// ActorEvery); the actor's numbers are zero otherwise.
	ActorUpdated                         bool
	ActorLoss, AlphaLoss, Alpha, Entropy float64
	// AuxLoss is the auxiliary objective's loss (set by its host).
	AuxLoss float64
}

// Update is CurlSacAgent.update without its CURL step: the critic on b,
// then every ActorEvery steps the actor and α, then every TargetEvery
// steps the target critic's EMA. step is the caller's update count (the
// periods are step % k == 0, as the official code counts).
func (a *Agent) Update(b *Batch, step int64) (Stats, error) {
	defer nn.Autograd()()
	var st Stats
	var err error
	if st.CriticLoss, st.Q, err = a.updateCritic(b); err != nil {
		return st, err
	}
	if step%int64(a.cfg.ActorEvery) == 0 {
		st.ActorUpdated = true
		if err := a.updateActor(b.Obs, &st); err != nil {
			return st, err
		}
	}
	if step%int64(a.cfg.TargetEvery) == 0 {
		if err := a.softUpdate(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// targetQ is r + not_done · γ · (min Q_target(s', a') − α log π(a'|s'))
// with a' drawn from the policy at s', outside autograd.
func (a *Agent) targetQ(b *Batch) (tq *ts.Tensor, err error) {
	tensor.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		noise, e := a.normal(b.Next.MustSize()[0])
		if e != nil {
			err = e
			return
		}
		s.T(noise)
		p := a.actor.forward(b.Next, noise, false)
		defer p.drop()
		t1, t2 := a.target.forward(b.Next, p.pi, false)
		s.T(t1)
		s.T(t2)
		alpha := s.T(a.logAlpha.MustExp(false))
		v := s.T(s.T(t1.MustMinimum(t2, false)).MustSub(s.T(p.logPi.MustMul(alpha, false)), false))
		disc := s.T(s.T(b.NotDone.MustMulScalar(ts.FloatScalar(a.cfg.Discount), false)).MustMul(v, false))
		tq = b.Reward.MustAdd(disc, false)
	})
	return tq, err
}

// updateCritic takes one Adam step of the critic (encoder included) on
// MSE(Q1, target) + MSE(Q2, target). It returns the loss and mean Q1.
func (a *Agent) updateCritic(b *Batch) (float64, float64, error) {
	s := tensor.NewScope()
	defer s.Close()
	tq, err := a.targetQ(b)
	if err != nil {
		return 0, 0, err
	}
	s.T(tq)
	q1, q2 := a.critic.forward(b.Obs, b.Action, false)
	s.T(q1)
	s.T(q2)
	loss := s.T(s.T(q1.MustMseLoss(tq, 1, false)).MustAdd(s.T(q2.MustMseLoss(tq, 1, false)), false))
	a.criticOpt.ZeroGrad()
	if err := loss.Backward(); err != nil {
		return 0, 0, fmt.Errorf("sac: critic backward: %w", err)
	}
	if err := a.criticOpt.Step(); err != nil {
		return 0, 0, err
	}
	return nn.Item(loss), nn.Item(s.T(q1.MustMean(q1.DType(), false))), nil
}

// updateActor takes one Adam step of the actor on mean(α log π − min Q)
// with the encoders' convolutions detached (the critic's Q networks judge
// the sampled actions but do not move), then one of log α on
// mean(α (−log π − target entropy)) with target entropy −|A|.
func (a *Agent) updateActor(obs *ts.Tensor, st *Stats) error {
	s := tensor.NewScope()
	defer s.Close()
	noise, err := a.normal(obs.MustSize()[0])
	if err != nil {
		return err
	}
	s.T(noise)
	// the actor and the critic see obs through the same convolutions,
	// detached: one pass outside autograd serves both
	hActor, hCritic := obs, obs // state vectors: no encoder
	if a.critic.enc.convs != nil {
		var conv *ts.Tensor
		tensor.NoGrad(func() { conv = s.T(a.critic.enc.features(obs)) })
		hActor, hCritic = s.T(a.actor.enc.head(conv, false)), s.T(a.critic.enc.head(conv, false))
	}
	p := a.actor.policy(hActor, noise)
	defer p.drop()
	q1, q2 := a.critic.qs(hCritic, p.pi)
	s.T(q1)
	s.T(q2)
	alpha := s.T(s.T(a.logAlpha.MustExp(false)).MustDetach(false))
	loss := s.T(s.T(s.T(p.logPi.MustMul(alpha, false)).MustSub(s.T(q1.MustMinimum(q2, false)), false)).MustMean(gotch.Float, false))
	a.actorOpt.ZeroGrad()
	if err := loss.Backward(); err != nil {
		return fmt.Errorf("sac: actor backward: %w", err)
	}
	if err := a.actorOpt.Step(); err != nil {
		return err
	}
	// the critic's heads got gradients from the actor loss; its optimizer
	// clears them before its next backward, as CURL's zero_grad does
	lp := s.T(p.logPi.MustDetach(false))
	w := s.T(s.T(lp.MustNeg(false)).MustSubScalar(ts.FloatScalar(a.targetEntropy), false))
	aloss := s.T(s.T(s.T(a.logAlpha.MustExp(false)).MustMul(w, false)).MustMean(gotch.Float, false))
	a.alphaOpt.ZeroGrad()
	if err := aloss.Backward(); err != nil {
		return fmt.Errorf("sac: temperature backward: %w", err)
	}
	if err := a.alphaOpt.Step(); err != nil {
		return err
	}
	ent := s.T(s.T(p.logStd.MustSumDimIntlist([]int64{1}, false, gotch.Float, false)).MustMean(gotch.Float, false))
	st.ActorLoss, st.AlphaLoss, st.Alpha = nn.Item(loss), nn.Item(aloss), a.Alpha()
	st.Entropy = 0.5*float64(a.cfg.ActionDim)*(1+math.Log(2*math.Pi)) + nn.Item(ent)
	return nil
}

// softUpdate moves the target critic toward the critic: the Q networks
// at rate CriticTau, the encoder at EncoderTau.
func (a *Agent) softUpdate() error {
	if err := backend.EMA(a.emaQ[0], a.emaQ[1], 1-a.cfg.CriticTau); err != nil {
		return err
	}
	return backend.EMA(a.emaEnc[0], a.emaEnc[1], 1-a.cfg.EncoderTau)
}

// Close frees the networks and optimizers.
func (a *Agent) Close() {
	for _, o := range []optim.Optimizer{a.criticOpt, a.actorOpt, a.alphaOpt, a.encOpt} {
		if o != nil {
			o.Close()
		}
	}
	for _, vs := range []*gnn.VarStore{a.criticVS, a.actorVS, a.targetVS, a.alphaVS} {
		if vs != nil {
			vs.Destroy()
		}
	}
}
