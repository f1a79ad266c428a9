package optim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"
)

// SaveNamed copies the state of several named optimizers (a model's "G"
// and "D", an agent's "critic" and "actor") into tensors named
// "opt.<name>/<slot>" and their step counts by name. release frees the
// copies.
func SaveNamed(opts map[string]Optimizer) (tensors map[string]*ts.Tensor, steps map[string]int64, release func(), err error) {
	tensors, steps = map[string]*ts.Tensor{}, map[string]int64{}
	var owned []*ts.Tensor
	release = func() {
		for _, t := range owned {
			t.MustDrop()
		}
	}
	for name, o := range opts {
		slots, n, err := o.State()
		if err != nil {
			release()
			return nil, nil, nil, fmt.Errorf("%s optimizer state: %w", name, err)
		}
		for k, t := range slots {
			tensors["opt."+name+"/"+k] = t
			owned = append(owned, t)
		}
		steps[name] = n
	}
	return tensors, steps, release, nil
}

// LoadNamed restores what SaveNamed wrote (tensors may hold other
// entries) into optimizers of the same names and parameters.
func LoadNamed(opts map[string]Optimizer, tensors map[string]*ts.Tensor, steps map[string]int64) error {
	if len(opts) != len(steps) {
		return fmt.Errorf("the saved state has optimizers %v, this model %v: resume with the same configuration", slices.Sorted(maps.Keys(steps)), slices.Sorted(maps.Keys(opts)))
	}
	for name, o := range opts {
		n, ok := steps[name]
		if !ok {
			return fmt.Errorf("the saved state has no %s optimizer (has %v)", name, slices.Sorted(maps.Keys(steps)))
		}
		slots := map[string]*ts.Tensor{}
		prefix := "opt." + name + "/"
		for k, t := range tensors {
			if strings.HasPrefix(k, prefix) {
				slots[strings.TrimPrefix(k, prefix)] = t
			}
		}
		if err := o.SetState(slots, n); err != nil {
			return fmt.Errorf("restore the %s optimizer: %w", name, err)
		}
	}
	return nil
}
