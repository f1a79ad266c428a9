package encoder

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
)

// stage is one named, tap-able piece of a trunk: it maps its input to a new
// tensor and leaves the input alone.
type stage struct {
	Layer
	run func(x *ts.Tensor, train bool) (*ts.Tensor, error)
}

// trunk is every built-in encoder: a chain of stages, then a global average
// pool. Its VarStore names are PyTorch state_dict names.
type trunk struct {
	name   string
	in     int64
	dim    int64
	vs     *nn.VarStore
	stages []stage
	bn     *bnConfig // shared with its BatchNorm layers
	// build makes another trunk of the same architecture; with init false
	// its variables are zeros and no random numbers are drawn.
	build func(init bool) (*trunk, error)
}

func (t *trunk) Name() string           { return t.name }
func (t *trunk) Dim() int64             { return t.dim }
func (t *trunk) VarStore() *nn.VarStore { return t.vs }

func (t *trunk) Layers() []Layer {
	out := make([]Layer, len(t.stages))
	for i, s := range t.stages {
		out[i] = s.Layer
	}
	return out
}

func (t *trunk) layerNames() []string {
	out := make([]string, len(t.stages))
	for i, s := range t.stages {
		out[i] = s.Name
	}
	return out
}

// Forward implements Encoder. Every tensor it makes and does not return is
// freed before it returns.
func (t *trunk) Forward(x *ts.Tensor, train bool, layers ...string) (method.Tensors, error) {
	want := make(map[string]bool, len(layers))
	for _, l := range layers {
		if l == Pooled {
			continue // always returned
		}
		if !slices.Contains(t.layerNames(), l) {
			return nil, fmt.Errorf("%s has no layer %q: ask for one of %v", t.name, l, t.layerNames())
		}
		want[l] = true
	}
	size, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: input: %w", t.name, err)
	}
	if len(size) != 4 || size[1] != t.in {
		return nil, fmt.Errorf("%s: input of shape %v, want [N, %d, H, W] (build the encoder with the data's channel count)", t.name, size, t.in)
	}
	if dt := x.DType(); dt != gotch.Float {
		return nil, fmt.Errorf("%s: input is %v, want float32 (convert images with /255 and normalise first)", t.name, dt)
	}

	out := method.Tensors{}
	h := x
	// release frees h unless it is the caller's input or a returned tap.
	release := func(h *ts.Tensor) {
		if h != x && !slices.Contains(layersOf(out), h) {
			h.MustDrop()
		}
	}
	for _, s := range t.stages {
		y, err := s.run(h, train)
		release(h)
		if err != nil {
			out.Drop()
			return nil, fmt.Errorf("%s %s: %w", t.name, s.Name, err)
		}
		h = y
		if want[s.Name] {
			out[s.Name] = y
		}
	}
	pooled, err := globalAvgPool(h)
	release(h)
	if err != nil {
		out.Drop()
		return nil, fmt.Errorf("%s pool: %w", t.name, err)
	}
	out[Pooled] = pooled
	return out, nil
}

func layersOf(m method.Tensors) []*ts.Tensor {
	out := make([]*ts.Tensor, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Copy implements Encoder: a fresh trunk of the same architecture on the
// same device, with every parameter and buffer copied.
func (t *trunk) Copy() (Encoder, error) {
	c, err := t.build(false)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", t.name, err)
	}
	if err := copyVars(c.vs, t.vs); err != nil {
		c.vs.Destroy()
		return nil, fmt.Errorf("copy %s: %w", t.name, err)
	}
	*c.bn = *t.bn
	return c, nil
}

// copyVars copies every variable of src into the one of the same name in
// dst, without touching autograd (through detached aliases).
func copyVars(dst, src *nn.VarStore) error {
	s := src.Variables()
	d := dst.Variables()
	if len(s) != len(d) {
		return fmt.Errorf("source has %d variables, destination %d: not the same architecture", len(s), len(d))
	}
	for name, dv := range d {
		sv, ok := s[name]
		if !ok {
			return fmt.Errorf("source has no variable %q: not the same architecture", name)
		}
		if err := assign(&dv, &sv); err != nil {
			return fmt.Errorf("variable %s: %w", name, err)
		}
	}
	return nil
}

// assign copies src's values into dst in place (any device; same shape and
// dtype), bypassing autograd.
func assign(dst, src *ts.Tensor) error {
	ds, err := dst.Size()
	if err != nil {
		return err
	}
	ss, err := src.Size()
	if err != nil {
		return err
	}
	if !slices.Equal(ds, ss) || dst.DType() != src.DType() {
		return fmt.Errorf("%v %v into %v %v: shapes or dtypes differ", src.DType(), ss, dst.DType(), ds)
	}
	d, err := detach(dst)
	if err != nil {
		return err
	}
	defer d.MustDrop()
	s, err := detach(src)
	if err != nil {
		return err
	}
	defer s.MustDrop()
	lib.AtCopy_(lib.Ctensor(d.Ctensor()), lib.Ctensor(s.Ctensor()))
	return ts.TorchErr()
}
