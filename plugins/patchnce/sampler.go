package patchnce

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// sampler is CUT's PatchSampleF after the host's sampling: per NCE layer an
// MLP (Linear(C, nc)–ReLU–Linear(nc, nc), mlp_sample) or none (sample),
// then Normalize(2). Its weights are xavier-normal with gain init_gain and
// zero biases, as init_net(netF, 'xavier', 0.02) leaves them. Variables
// "mlp_<i>.0" and "mlp_<i>.2" as in the official state_dict.
type sampler struct {
	mlps [][2]*nn.Linear // nil: no MLP
}

func newSampler(h *gnn.Path, rng *rand.Rand, dims []int64, nc int64, gain float64, useMLP bool) (*sampler, error) {
	s := &sampler{}
	if !useMLP {
		return s, nil
	}
	for i, c := range dims {
		p := h.Sub(fmt.Sprintf("mlp_%d", i))
		var pair [2]*nn.Linear
		for j, io := range [2][2]int64{{c, nc}, {nc, nc}} {
			l, err := xavierLinear(p.Sub(fmt.Sprint(2*j)), rng, io[0], io[1], gain)
			if err != nil {
				return nil, err
			}
			pair[j] = l
		}
		s.mlps = append(s.mlps, pair)
	}
	return s, nil
}

// xavierLinear is a Linear layer with init.xavier_normal_(gain) weights
// (std gain·√(2/(in+out))) and zero bias.
func xavierLinear(p *gnn.Path, rng *rand.Rand, in, out int64, gain float64) (*nn.Linear, error) {
	std := gain * math.Sqrt(2/float64(in+out))
	v := make([]float32, in*out)
	for i := range v {
		v[i] = float32(std * rng.NormFloat64())
	}
	w, err := tensor.FromFloat32(v, out, in)
	if err != nil {
		return nil, err
	}
	if p.Device() != gotch.CPU {
		w = w.MustTo(p.Device(), true)
	}
	l := &nn.Linear{}
	if l.W, err = nn.AddParam(p, "weight", w); err != nil {
		return nil, err
	}
	b, err := nn.Filled(0, p.Device(), out)
	if err != nil {
		return nil, err
	}
	l.B, err = nn.AddParam(p, "bias", b)
	return l, err
}

// project maps layer i's sampled patch features x [R, C] to unit-norm
// vectors [R, nc] (or [R, C] without MLPs). The caller owns the result.
func (s *sampler) project(i int, x *ts.Tensor) *ts.Tensor {
	if s.mlps == nil {
		return l2norm(x)
	}
	sc := tensor.NewScope()
	defer sc.Close()
	h := sc.T(sc.T(s.mlps[i][0].Forward(x)).MustRelu(false))
	return l2norm(sc.T(s.mlps[i][1].Forward(h)))
}
