package sac

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// An auxiliary objective (CURL, or any method on two views of pooled
// features) trains the critic's encoder between SAC updates, as
// CurlSacAgent.update_cpc does: the host encodes the anchor with the
// critic's encoder (Encode), the positive with the target critic's
// (EncodeTarget), hands the features to the method, and back-propagates
// the gradients it returns into the encoder (StepEncoder).

// FeatureDim is the size of the encoder's output.
func (a *Agent) FeatureDim() int64 { return a.critic.enc.dim }

// Encode returns the critic's encoding of obs in the autograd graph. The
// caller owns it.
func (a *Agent) Encode(obs *ts.Tensor) *ts.Tensor {
	defer nn.Autograd()()
	return a.critic.enc.forward(obs, false)
}

// EncodeTarget returns the target critic's encoding of obs, outside
// autograd. The caller owns it.
func (a *Agent) EncodeTarget(obs *ts.Tensor) *ts.Tensor {
	var out *ts.Tensor
	tensor.NoGrad(func() { out = a.target.enc.forward(obs, false) })
	return out
}

// EncoderParams are the critic encoder's parameters (the convolutions the
// actor shares, the critic's linear map and LayerNorm).
func (a *Agent) EncoderParams() []optim.Param {
	var ps []optim.Param
	for _, p := range optim.Params(a.criticVS) {
		if strings.HasPrefix(p.Name, "encoder.") {
			ps = append(ps, p)
		}
	}
	return ps
}

// EnableEncoderSteps gives the critic's encoder an Adam of its own for
// auxiliary gradients at lr, β (0.9, 0.999) as CURL's encoder_optimizer.
func (a *Agent) EnableEncoderSteps(lr float64) error {
	if !a.cfg.pixels() {
		return errors.New("sac: an auxiliary objective needs a pixel encoder; train on pixels")
	}
	o, err := optim.New(optim.Config{Name: "adam", LR: lr}, a.EncoderParams())
	if err != nil {
		return err
	}
	if a.encOpt != nil {
		a.encOpt.Close()
	}
	a.encOpt = o
	return nil
}

// StepEncoder back-propagates Σ_i ⟨feats_i, grads_i⟩ (feats from Encode,
// grads d loss / d feats from the objective) into the critic's encoder
// and takes one step of its auxiliary Adam.
func (a *Agent) StepEncoder(feats, grads []*ts.Tensor) error {
	if a.encOpt == nil {
		return errors.New("sac: StepEncoder before EnableEncoderSteps")
	}
	if len(feats) != len(grads) || len(feats) == 0 {
		return fmt.Errorf("sac: %d features and %d gradients", len(feats), len(grads))
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	var total *ts.Tensor
	for i, f := range feats {
		if !slices.Equal(f.MustSize(), grads[i].MustSize()) {
			return fmt.Errorf("sac: features %v and gradient %v differ in shape", f.MustSize(), grads[i].MustSize())
		}
		term := s.T(s.T(f.MustMul(grads[i], false)).MustSum(gotch.Float, false))
		if total == nil {
			total = term
		} else {
			total = s.T(total.MustAdd(term, false))
		}
	}
	a.encOpt.ZeroGrad()
	if err := total.Backward(); err != nil {
		return fmt.Errorf("sac: encoder backward: %w", err)
	}
	return a.encOpt.Step()
}
