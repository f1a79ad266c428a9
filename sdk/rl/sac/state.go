package sac

import (
	"errors"
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
)

// State is everything of an agent that is not a tensor: the optimizers'
// step counts and the policy noise's generator.
type State struct {
	OptSteps map[string]int64 `json:"opt_steps"`
	Noise    []byte           `json:"noise"`
}

// stores names the agent's variable stores as its tensors are prefixed.
func (a *Agent) stores() map[string]*gnn.VarStore {
	return map[string]*gnn.VarStore{"critic": a.criticVS, "actor": a.actorVS, "target": a.targetVS, "alpha": a.alphaVS}
}

func (a *Agent) optimizers() map[string]optim.Optimizer {
	o := map[string]optim.Optimizer{"critic": a.criticOpt, "actor": a.actorOpt, "alpha": a.alphaOpt}
	if a.encOpt != nil {
		o["encoder"] = a.encOpt
	}
	return o
}

// Save returns the agent's tensors, named "<store>/<variable>" for the
// networks and "opt.<optimizer>/<slot>" for the optimizers' state, and
// its other state. release frees the copies Save made (the variables are
// the agent's own; write them before the next update).
func (a *Agent) Save() (tensors map[string]*ts.Tensor, st State, release func(), err error) {
	tensors, st.OptSteps, release, err = optim.SaveNamed(a.optimizers())
	if err != nil {
		return nil, st, nil, fmt.Errorf("sac: %w", err)
	}
	for name, vs := range a.stores() {
		for k, v := range vs.Variables() {
			v := v
			tensors[name+"/"+k] = &v
		}
	}
	if st.Noise, err = a.noiseSrc.MarshalBinary(); err != nil {
		release()
		return nil, st, nil, err
	}
	return tensors, st, release, nil
}

// LoadWeights restores the networks of what Save returned, not the
// optimizers (for evaluation).
func (a *Agent) LoadWeights(tensors map[string]*ts.Tensor) error {
	for name, vs := range a.stores() {
		for k, v := range vs.Variables() {
			v := v
			src, ok := tensors[name+"/"+k]
			if !ok {
				return fmt.Errorf("sac: the saved agent has no %s/%s: it was saved with another configuration", name, k)
			}
			if err := nn.CopyValues(&v, src, name+"/"+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load restores what Save returned (on an agent of the same Config, with
// EnableEncoderSteps called when the saved one had it).
func (a *Agent) Load(tensors map[string]*ts.Tensor, st State) error {
	if err := a.LoadWeights(tensors); err != nil {
		return err
	}
	if err := optim.LoadNamed(a.optimizers(), tensors, st.OptSteps); err != nil {
		return fmt.Errorf("sac: %w", err)
	}
	if len(st.Noise) == 0 {
		return errors.New("sac: the saved agent has no noise generator state")
	}
	return a.noiseSrc.UnmarshalBinary(st.Noise)
}
