// Package moco is the momentum-contrast method family: MoCo v1/v2 (a queue
// of negative keys), MoCo v3 (symmetric in-batch loss with a predictor) and
// CURL (bilinear InfoNCE for pixel RL). Each method declares an EMA target
// of the host's trunk in its Spec; the method keeps the EMA copy of its own
// heads. Import the package to run the methods in process, or serve them
// with the plugin binary in cmd/selfsup-moco.
package moco

import (
	"fmt"
	"maps"
	"slices"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{MoCoConstructor(), MoCoV3Constructor(), CURLConstructor()}
}

// matrices checks that the named tensors are 2-D float tensors of one dtype
// and that the listed pairs have equal shapes.
func matrices(in map[string]*ts.Tensor, same ...[2]string) error {
	var dt gotch.DType
	for i, k := range slices.Sorted(maps.Keys(in)) {
		x := in[k]
		if x.Dim() != 2 {
			return fmt.Errorf("%s has shape %v, want a matrix", k, x.MustSize())
		}
		if i == 0 {
			dt = x.DType()
		}
		if x.DType() != dt || (dt != gotch.Float && dt != gotch.Double) {
			return fmt.Errorf("%s is %v; all inputs must share one float dtype", k, x.DType())
		}
	}
	for _, p := range same {
		a, b := in[p[0]].MustSize(), in[p[1]].MustSize()
		if !slices.Equal(a, b) {
			return fmt.Errorf("%s %v and %s %v must have one shape", p[0], a, p[1], b)
		}
	}
	return nil
}
