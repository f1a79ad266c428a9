package runner

import (
	"context"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/rl/sac"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// DefaultEncoderLR is the learning rate of the encoder's auxiliary Adam:
// CURL's update_cpc steps the critic's encoder with two Adams on the same
// gradient (encoder_optimizer over the encoder and cpc_optimizer over
// CURL.parameters(), which hold the encoder too), both at encoder_lr
// 1e-3; two Adams fed the same gradients take the same step, so together
// they are one Adam at 2e-3.
const DefaultEncoderLR = 2e-3

// aux is an auxiliary objective on the critic's encoder: a method whose
// Spec asks for two views of pooled features. The runner supplies them as
// CURL does: the first view is the crop the critic trained on (the
// anchor), the second another random crop of the same observation (the
// positive); online views go through the critic's encoder, target views
// through the target critic's (the EMA key encoder, at the agent's
// EncoderTau), whatever recipe or momentum the Spec names.
type aux struct {
	m     method.Method
	name  string
	views []method.View
	steps int64
}

// checkAux says whether the runner can feed spec.
func checkAux(spec method.Spec) error {
	why := func(s string) error {
		return fmt.Errorf("rl: method %s %s; the RL runner feeds a method two random crops of each observation, as pooled encoder features (CURL's anchor and positive)", spec.Name, s)
	}
	if len(spec.Views) != 2 {
		return why(fmt.Sprintf("asks for %d views", len(spec.Views)))
	}
	online := false
	for _, v := range spec.Views {
		if v.Grid != nil || v.Modality != "" {
			return why("asks for patch grids or modalities")
		}
		if !v.Online && !v.Target {
			return why(fmt.Sprintf("has a view %s that goes through no encoder", v.Name))
		}
		online = online || v.Online
	}
	if !online {
		return why("trains no encoder (no online view)")
	}
	if t := spec.EffectiveTaps(); len(t) != 1 || t[0].Name != "pooled" {
		return why("asks for feature maps or patches, not one pooled tap")
	}
	if len(spec.PseudoLabels) > 0 || spec.SampleIDs || len(spec.Modalities) > 0 {
		return why("asks for pseudo-labels, sample ids or modalities")
	}
	return nil
}

// newAux sets m up for the agent's features.
func newAux(ctx context.Context, m method.Method, params method.Params, a *sac.Agent, total int64, dev string, seed int64) (*aux, error) {
	spec := m.Spec()
	if err := checkAux(spec); err != nil {
		return nil, err
	}
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {a.FeatureDim()}}, Config: params, TotalSteps: total, Device: dev, Seed: seed}); err != nil {
		return nil, fmt.Errorf("rl: set up %s: %w", spec.Name, err)
	}
	for _, v := range spec.Views {
		if v.Online && v.Target {
			return nil, fmt.Errorf("rl: method %s: view %s is both online and target; the runner sends each view through one encoder", spec.Name, v.Name)
		}
	}
	return &aux{m: m, name: spec.Name, views: spec.Views}, nil
}

// step trains the objective on anchor and positive (observations as the
// critic sees them) and steps the critic's encoder with its gradients.
func (x *aux) step(ctx context.Context, a *sac.Agent, anchor, positive *ts.Tensor) (method.StepResponse, error) {
	s := tensor.NewScope()
	defer s.Close()
	feats := method.Tensors{}
	var online []*ts.Tensor
	var keys []string
	for i, v := range x.views {
		obs := anchor
		if i == 1 {
			obs = positive
		}
		if v.Target {
			feats[method.FeatureKey(v.Name, "pooled", true)] = s.T(a.EncodeTarget(obs))
			continue
		}
		f := s.T(a.Encode(obs))
		k := method.FeatureKey(v.Name, "pooled", false)
		feats[k] = s.T(f.MustDetach(false))
		online, keys = append(online, f), append(keys, k)
	}
	resp, err := x.m.Step(ctx, method.StepRequest{Step: x.steps, Train: true, Features: feats})
	if err != nil {
		return resp, fmt.Errorf("rl: %s step: %w", x.name, err)
	}
	defer resp.Grads.Drop()
	x.steps++
	grads := make([]*ts.Tensor, len(keys))
	for i, k := range keys {
		if grads[i] = resp.Grads[k]; grads[i] == nil {
			return resp, fmt.Errorf("rl: %s returned no gradient for %s", x.name, k)
		}
	}
	if err := a.StepEncoder(online, grads); err != nil {
		return resp, err
	}
	resp.Grads = nil
	return resp, nil
}

func (x *aux) close() error {
	if x == nil {
		return nil
	}
	return x.m.Close()
}
