package sac

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// pixelAgent is a small pixel agent (9×24×24 observations, 2 actions).
func pixelAgent(t *testing.T, precision string) *Agent {
	t.Helper()
	cfg := Default([]int{9, 24, 24}, 2)
	cfg.Hidden, cfg.Seed, cfg.ConvPrecision = 16, 7, precision
	a, err := New(cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// pixels is a batch of n random frames of 0…255 as floats.
func pixels(t *testing.T, r *rand.Rand, n int) *ts.Tensor {
	t.Helper()
	v := make([]float32, n*9*24*24)
	for i := range v {
		v[i] = float32(r.IntN(256))
	}
	x, err := tensor.FromFloat32(v, int64(n), 9, 24, 24)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// convsNCHW is the encoder's conv stack the plain way (NCHW, float32, as
// curl_sac.py's PixelEncoder.forward_conv), flattened.
func convsNCHW(e *encoder, obs *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	h := s.T(obs.MustDivScalar(ts.FloatScalar(255), false))
	for _, c := range e.convs {
		h = s.T(s.T(ts.MustConv2d(h, c.w, c.b, []int64{c.stride, c.stride}, []int64{0, 0}, []int64{1, 1}, 1)).MustRelu(false))
	}
	return h.MustFlatten(1, -1, false)
}

// TestConvFeatures: the channels-last stack gives the NCHW stack's values;
// the bfloat16 one the same to bfloat16's precision.
func TestConvFeatures(t *testing.T) {
	runtime.LockOSThread()
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		precision string
		tol       float64 // relative to the features' scale
	}{{Float32, 1e-5}, {BFloat16, 3e-2}} {
		t.Run(c.precision, func(t *testing.T) {
			a := pixelAgent(t, c.precision)
			obs := pixels(t, r, 16)
			defer obs.MustDrop()
			var got, want []float64
			tensor.NoGrad(func() {
				g := a.critic.enc.features(obs)
				defer g.MustDrop()
				w := convsNCHW(a.critic.enc, obs)
				defer w.MustDrop()
				got, want = vals(t, g), vals(t, w)
			})
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			if scale == 0 {
				t.Fatal("all-zero features")
			}
			for i := range want {
				if math.Abs(got[i]-want[i]) > c.tol*scale {
					t.Fatalf("feature %d = %.6g, NCHW float32 %.6g (scale %.3g)", i, got[i], want[i], scale)
				}
			}
		})
	}
}

// TestPixelActorLoss: the actor step's one shared conv pass gives the loss
// of curl_sac.py's two passes (actor(obs, detach) and critic(obs, π,
// detach)), and the step moves the actor but not the shared convolutions.
func TestPixelActorLoss(t *testing.T) {
	runtime.LockOSThread()
	a := pixelAgent(t, Float32)
	obs := pixels(t, rand.New(rand.NewPCG(3, 4)), 8)
	defer obs.MustDrop()
	// the same noise the update will draw: a copy of the agent's stream
	state, err := a.noiseSrc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	src := &rand.PCG{}
	if err := src.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	var want float64
	tensor.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		a.noise = rand.New(src)
		noise := s.T(must(a.normal(8)))
		a.noise = rand.New(a.noiseSrc)
		p := a.actor.forward(obs, noise, true)
		defer p.drop()
		q1, q2 := a.critic.forward(obs, p.pi, true)
		s.T(q1)
		s.T(q2)
		loss := s.T(s.T(s.T(p.logPi.MustMulScalar(ts.FloatScalar(a.Alpha()), false)).MustSub(s.T(q1.MustMinimum(q2, false)), false)).MustMean(gotch.Float, false))
		want = vals(t, loss)[0]
	})
	convs := map[string]ts.Tensor{}
	for name, v := range a.criticVS.Variables() {
		if len(name) > 14 && name[:14] == "encoder.convs." {
			convs[name] = v
		}
	}
	before, actorBefore := snapshot(t, convs), snapshot(t, a.actorVS.Variables())
	var st Stats
	if err := a.updateActor(obs, &st); err != nil {
		t.Fatal(err)
	}
	near(t, "actor loss", []float64{st.ActorLoss}, []float64{want}, 1e-5)
	same(t, "shared convolutions after the actor step", convs, before, true)
	same(t, "actor after the actor step", a.actorVS.Variables(), actorBefore, false)
}
