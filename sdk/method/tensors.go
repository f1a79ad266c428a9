package method

import (
	"fmt"
	"sort"

	"github.com/sugarme/gotch/ts"
)

// Tensors maps role names (or feature keys) to tensors. The owner of a
// Tensors value frees it with Drop.
type Tensors map[string]*ts.Tensor

// Names returns the keys in sorted order.
func (t Tensors) Names() []string {
	names := make([]string, 0, len(t))
	for k := range t {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Get returns the tensor under name or an error naming what is missing.
func (t Tensors) Get(name string) (*ts.Tensor, error) {
	x, ok := t[name]
	if !ok || x == nil {
		return nil, fmt.Errorf("missing tensor %q (have %v)", name, t.Names())
	}
	return x, nil
}

// Drop frees every tensor and empties the map.
func (t Tensors) Drop() {
	for k, x := range t {
		if x != nil {
			x.MustDrop()
		}
		delete(t, k)
	}
}
