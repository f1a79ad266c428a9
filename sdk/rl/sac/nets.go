package sac

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// encoder is CURL's PixelEncoder with output_logits=True (as its actor and
// critic build it): obs/255, 3×3 convolutions of Filters channels (the
// first with stride 2) each followed by ReLU, flattened, a linear map to
// FeatureDim and LayerNorm. The actor's encoder uses the critic's
// convolutions (tie_weights) and has a linear map and LayerNorm of its
// own. For state observations the encoder is the identity.
type encoder struct {
	convs []*conv // nil: the identity on state vectors
	bf16  bool    // convolve in bfloat16 (Config.ConvPrecision)
	fc    *linear
	ln    *layerNorm
	dim   int64 // output size
}

// newEncoder adds the encoder's variables under p ("convs.i", "fc", "ln");
// shared, when not nil, supplies the convolutions instead.
func newEncoder(p *gnn.Path, rng *rand.Rand, c *Config, shared []*conv) (*encoder, error) {
	if !c.pixels() {
		return &encoder{dim: int64(c.ObsShape[0])}, nil
	}
	e := &encoder{convs: shared, dim: int64(c.FeatureDim), bf16: c.ConvPrecision == BFloat16}
	if shared == nil {
		in := int64(c.ObsShape[0])
		for i := range c.Layers {
			stride := int64(1)
			if i == 0 {
				stride = 2
			}
			cv, err := newConv(p.Sub("convs").Sub(fmt.Sprint(i)), rng, in, int64(c.Filters), stride)
			if err != nil {
				return nil, err
			}
			e.convs = append(e.convs, cv)
			in = int64(c.Filters)
		}
	}
	var err error
	if e.fc, err = newLinear(p.Sub("fc"), rng, int64(c.Filters)*c.convOut()*c.convOut(), int64(c.FeatureDim)); err != nil {
		return nil, err
	}
	if e.ln, err = newLayerNorm(p.Sub("ln"), int64(c.FeatureDim)); err != nil {
		return nil, err
	}
	return e, nil
}

// forward encodes obs (pixels 0…255 as floats, or state vectors); detach
// stops the gradient at the convolutions' output (CURL's detach_encoder).
// The caller owns the result.
func (e *encoder) forward(obs *ts.Tensor, detach bool) *ts.Tensor {
	if e.convs == nil {
		return obs.MustShallowClone()
	}
	h := e.features(obs)
	defer h.MustDrop()
	return e.head(h, detach)
}

// features is the convolutions' output of obs (pixels 0…255), flattened
// to [N, Filters·S·S] float32. The stack runs in channels-last memory
// order, the layout oneDNN convolves in, so that no layer's input and
// output are reordered (the values are those of the NCHW computation); in
// bfloat16 when the agent's ConvPrecision says so, its weights cast from
// their float32 masters on every call. The caller owns the result.
func (e *encoder) features(obs *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(obs.MustDivScalar(ts.FloatScalar(255), false))
	if h.MustSize()[0] > 1 { // one frame (acting) gains nothing from it
		h = s.T(must(backend.ChannelsLast(h)))
	}
	if e.bf16 {
		h = s.T(h.MustTotype(gotch.BFloat16, false))
	}
	for _, c := range e.convs {
		h = s.T(s.T(c.forward(h, e.bf16)).MustRelu(false))
	}
	if e.bf16 {
		h = s.T(h.MustTotype(gotch.Float, false))
	}
	return h.MustFlatten(1, -1, false)
}

// head is the linear map and LayerNorm on conv features h; detach stops
// the gradient before them. The caller owns the result.
func (e *encoder) head(h *ts.Tensor, detach bool) *ts.Tensor {
	if detach {
		h = h.MustDetach(false)
		defer h.MustDrop()
	}
	x := e.fc.forward(h)
	defer x.MustDrop()
	return e.ln.forward(x)
}

// must panics on a libtorch error, as gotch's Must calls do.
func must(t *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

// actor is CURL's Actor: the encoder, an MLP to 2·|A| (mean and log-std),
// the log-std squashed into [LogStdMin, LogStdMax] by tanh.
type actor struct {
	enc               *encoder
	trunk             *mlp
	logStdMin, range_ float64
	actions           int64
}

// policy is one pass of the actor. The tensors belong to the caller.
type policy struct {
	mu, pi, logPi, logStd *ts.Tensor
}

func (p *policy) drop() {
	for _, t := range []*ts.Tensor{p.mu, p.pi, p.logPi, p.logStd} {
		if t != nil {
			t.MustDrop()
		}
	}
}

// forward runs the actor on obs. With noise (standard normal, [N, |A|])
// it samples pi = tanh(mu + noise·std) and its log-probability with the
// tanh correction (CURL's gaussian_logprob and squash); without, only the
// squashed mean.
func (a *actor) forward(obs *ts.Tensor, noise *ts.Tensor, detach bool) *policy {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(a.enc.forward(obs, detach))
	return a.policy(h, noise)
}

// policy is the actor's pass on encoded observations h.
func (a *actor) policy(h, noise *ts.Tensor) *policy {
	s := tensor.NewScope()
	defer s.Close()
	out := s.T(a.trunk.forward(h))
	mu := s.T(out.MustNarrow(1, 0, a.actions, false))
	ls := s.T(s.T(out.MustNarrow(1, a.actions, a.actions, false)).MustTanh(false))
	// log_std_min + 0.5 (max − min)(tanh + 1)
	ls = s.T(s.T(s.T(ls.MustAddScalar(ts.FloatScalar(1), false)).MustMulScalar(ts.FloatScalar(0.5*a.range_), false)).MustAddScalar(ts.FloatScalar(a.logStdMin), false))
	p := &policy{logStd: s.Detach(ls)}
	if noise == nil {
		p.mu = mu.MustTanh(false)
		return p
	}
	std := s.T(ls.MustExp(false))
	pi := s.T(mu.MustAdd(s.T(noise.MustMul(std, false)), false))
	// Σ (−noise²/2 − log_std) − |A|/2 · log 2π
	res := s.T(s.T(s.T(noise.MustSquare(false)).MustMulScalar(ts.FloatScalar(-0.5), false)).MustSub(ls, false))
	logPi := s.T(s.T(res.MustSumDimIntlist([]int64{1}, true, res.DType(), false)).MustSubScalar(ts.FloatScalar(0.5*math.Log(2*math.Pi)*float64(a.actions)), false))
	p.mu = mu.MustTanh(false)
	p.pi = pi.MustTanh(false)
	// − Σ log(relu(1 − pi²) + 1e-6)
	corr := s.T(s.T(s.T(s.T(s.T(p.pi.MustSquare(false)).MustNeg(false)).MustAddScalar(ts.FloatScalar(1), false)).MustRelu(false)).MustAddScalar(ts.FloatScalar(1e-6), false))
	corr = s.T(corr.MustLog(false))
	p.logPi = logPi.MustSub(s.T(corr.MustSumDimIntlist([]int64{1}, true, corr.DType(), false)), false)
	return p
}

// critic is CURL's Critic: the encoder and twin Q MLPs on
// [features, action].
type critic struct {
	enc    *encoder
	q1, q2 *mlp
}

func newCritic(p *gnn.Path, rng *rand.Rand, c *Config) (*critic, error) {
	enc, err := newEncoder(p.Sub("encoder"), rng, c, nil)
	if err != nil {
		return nil, err
	}
	cr := &critic{enc: enc}
	in := enc.dim + int64(c.ActionDim)
	if cr.q1, err = newMLP(p.Sub("Q1"), rng, in, int64(c.Hidden), 1); err != nil {
		return nil, err
	}
	cr.q2, err = newMLP(p.Sub("Q2"), rng, in, int64(c.Hidden), 1)
	return cr, err
}

// forward returns Q1 and Q2 [N, 1] of obs and action; the caller owns
// them.
func (c *critic) forward(obs, action *ts.Tensor, detach bool) (*ts.Tensor, *ts.Tensor) {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(c.enc.forward(obs, detach))
	return c.qs(h, action)
}

// qs is the Q heads on encoded observations h.
func (c *critic) qs(h, action *ts.Tensor) (*ts.Tensor, *ts.Tensor) {
	x := ts.MustCat([]*ts.Tensor{h, action}, 1)
	defer x.MustDrop()
	return c.q1.forward(x), c.q2.forward(x)
}
