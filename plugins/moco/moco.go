// Package moco is the momentum-contrast method family: MoCo v1/v2 (a queue
// of negative keys), MoCo v3 (symmetric in-batch loss with a predictor) and
// CURL (bilinear InfoNCE for pixel RL). Each method declares an EMA target
// of the host's trunk in its Spec; the method keeps the EMA copy of its own
// heads. Import the package to run the methods in process, or serve them
// with the plugin binary in cmd/selfsup-moco.
package moco

import (
	"fmt"
	"slices"
	"sort"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{MoCoConstructor(), MoCoV3Constructor(), CURLConstructor()}
}

// merge overlays over on defaults, rejecting keys the method does not know.
func merge(name string, defaults, over method.Params) (method.Params, error) {
	p := method.Params{}
	for k, v := range defaults {
		p[k] = v
	}
	for k, v := range over {
		if _, ok := defaults[k]; !ok {
			known := make([]string, 0, len(defaults))
			for k := range defaults {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%s: unknown config key %q (known: %v); fix the method config", name, k, known)
		}
		p[k] = v
	}
	return p, nil
}

// features returns the [N, D] feature under key with D == dim.
func features(name string, req method.StepRequest, key string, dim int64) (*ts.Tensor, error) {
	f, err := req.Features.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%s step: %w; the host must send the views of the Spec", name, err)
	}
	s := f.MustSize()
	if len(s) != 2 || s[0] < 1 || s[1] != dim {
		return nil, fmt.Errorf("%s step: feature %s has shape %v, want [N, %d] (the dimension given to Setup)", name, key, s, dim)
	}
	if dt := f.DType(); dt != gotch.Float && dt != gotch.Double {
		return nil, fmt.Errorf("%s step: feature %s is %v, want float32 or float64", name, key, dt)
	}
	return f, nil
}

// matrices checks that the named tensors are 2-D float tensors of one dtype
// and that the listed pairs have equal shapes.
func matrices(name string, in map[string]*ts.Tensor, same ...[2]string) error {
	var dt gotch.DType
	first := true
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range in {
			if !yield(k) {
				return
			}
		}
	}) {
		x := in[k]
		if x.Dim() != 2 {
			return fmt.Errorf("%s loss: %s has shape %v, want a matrix", name, k, x.MustSize())
		}
		if first {
			dt, first = x.DType(), false
		}
		if x.DType() != dt || (dt != gotch.Float && dt != gotch.Double) {
			return fmt.Errorf("%s loss: %s is %v; all inputs must share one float dtype", name, k, x.DType())
		}
	}
	for _, p := range same {
		a, b := in[p[0]].MustSize(), in[p[1]].MustSize()
		if !slices.Equal(a, b) {
			return fmt.Errorf("%s loss: %s %v and %s %v must have one shape", name, p[0], a, p[1], b)
		}
	}
	return nil
}

// toHead moves a (leaf) feature to the head's device as float32.
func toHead(s *tensor.Scope, x *ts.Tensor, dev gotch.Device) *ts.Tensor {
	return s.T(x.MustTo(dev, false).MustTotype(gotch.Float, true))
}

// grads collects the leaves' gradients under their feature keys.
func grads(keys []string, leaves []*ts.Tensor) (method.Tensors, error) {
	out := method.Tensors{}
	for i, k := range keys {
		g, err := nn.Grad(leaves[i])
		if err != nil {
			out.Drop()
			return nil, err
		}
		out[k] = g
	}
	return out, nil
}
