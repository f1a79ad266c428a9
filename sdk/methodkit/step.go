package methodkit

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Step is one training step as a method's Forward sees it: the features
// the Spec promised, checked; leaves for the online ones (their gradients
// go back to the host); a scope that frees everything made in the step;
// the heads; and the metrics to report.
type Step struct {
	*tensor.Scope
	Req   method.StepRequest
	Index int64 // the global step (Req.Step)
	Train bool  // update parameters and state (Req.Train)
	N     int64 // the batch size
	Heads *Heads

	spec    method.Spec
	leaves  map[string]*ts.Tensor // online feature key -> leaf
	targets map[string]*ts.Tensor // target feature key -> the host's tensor
	order   []string              // online keys in Spec order
	metrics map[string]float64
}

// gather checks req's features against the Spec and the dims Setup was
// given, and makes the step's leaves.
func gather(name string, spec method.Spec, h *Heads, req method.StepRequest, s *tensor.Scope) (*Step, error) {
	st := &Step{Scope: s, Req: req, Index: req.Step, Train: req.Train, Heads: h, spec: spec,
		leaves: map[string]*ts.Tensor{}, targets: map[string]*ts.Tensor{}, metrics: map[string]float64{}}
	n := int64(-1)
	for _, v := range spec.Views {
		for _, tap := range spec.EffectiveTaps() {
			for _, dk := range tap.Keys() {
				dims, ok := h.Dims[dk]
				if !ok {
					return nil, fmt.Errorf("%s step: Setup gave no feature dims for %q (have %v)", name, dk, h.Dims)
				}
				var lead []int64 // the batch axes before dims
				switch {
				case v.Grid != nil:
					g := int64(v.Grid.Side(v.Size))
					lead = []int64{-1, g, g}
				case tap.Kind == method.Patches:
					lead = []int64{-int64(tap.Patches)} // N·patches rows
				default:
					lead = []int64{-1}
				}
				for _, target := range []bool{false, true} {
					if (!target && !v.Online) || (target && !v.Target) {
						continue
					}
					key := method.FeatureKey(v.Name, dk, target)
					f, err := req.Features.Get(key)
					if err != nil {
						return nil, fmt.Errorf("%s step: %w; the host must send the views of the Spec", name, err)
					}
					rows, err := checkShape(f, lead, dims)
					if err != nil {
						return nil, fmt.Errorf("%s step: feature %s: %w", name, key, err)
					}
					if n >= 0 && rows != n {
						return nil, fmt.Errorf("%s step: feature %s has a batch of %d, the other views %d; send one batch for every view", name, key, rows, n)
					}
					n = rows
					if target {
						st.targets[key] = f
					} else {
						st.leaves[key] = s.T(nn.Leaf(f))
						st.order = append(st.order, key)
					}
				}
			}
		}
	}
	st.N = n
	return st, nil
}

// checkShape checks that f is a float tensor shaped lead ++ dims, where a
// lead of -1 is the batch N and a lead of -P says N·P rows; it returns N.
func checkShape(f *ts.Tensor, lead, dims []int64) (int64, error) {
	if dt := f.DType(); !isFloat(dt) {
		return 0, fmt.Errorf("dtype %v, want float32 or float64", dt)
	}
	size := f.MustSize()
	want := append(slices.Clone(lead), dims...)
	if len(size) != len(want) {
		return 0, fmt.Errorf("shape %v, want %s", size, shapeText(lead, dims))
	}
	n := size[0]
	if lead[0] < -1 {
		if n%(-lead[0]) != 0 {
			return 0, fmt.Errorf("shape %v: %d rows are not a whole number of images of %d patches", size, n, -lead[0])
		}
		n /= -lead[0]
	}
	if n < 1 {
		return 0, fmt.Errorf("shape %v: an empty batch", size)
	}
	for i := 1; i < len(want); i++ {
		if want[i] != size[i] {
			return 0, fmt.Errorf("shape %v, want %s (the dims given to Setup)", size, shapeText(lead, dims))
		}
	}
	return n, nil
}

func shapeText(lead, dims []int64) string {
	parts := []string{}
	for _, l := range lead {
		switch {
		case l == -1:
			parts = append(parts, "N")
		case l < -1:
			parts = append(parts, fmt.Sprintf("N·%d", -l))
		default:
			parts = append(parts, fmt.Sprint(l))
		}
	}
	for _, d := range dims {
		parts = append(parts, fmt.Sprint(d))
	}
	return fmt.Sprintf("%v", parts)
}

// Leaf is the leaf of an online feature key ("v1/pooled"): the host's
// values, requiring grad, in their dtype and on their device.
func (s *Step) Leaf(key string) *ts.Tensor {
	l, ok := s.leaves[key]
	if !ok {
		panic(fmt.Sprintf("%s: no online feature %q in the Spec (online: %v)", s.spec.Name, key, s.order))
	}
	return l
}

// Online is view's pooled feature as float32 on the heads' device; autograd
// flows back to its leaf.
func (s *Step) Online(view string) *ts.Tensor {
	return s.OnlineTap(view, "pooled")
}

// OnlineTap is view's feature under a tap key ("pooled", "layer.layer2") as
// float32 on the heads' device.
func (s *Step) OnlineTap(view, key string) *ts.Tensor {
	return ToHead(s.Scope, s.Leaf(method.FeatureKey(view, key, false)), s.Heads.Dev)
}

// Target is view's pooled feature from the EMA target trunk, detached, as
// float32 on the heads' device.
func (s *Step) Target(view string) *ts.Tensor { return s.TargetTap(view, "pooled") }

// TargetTap is view's target feature under a tap key, detached, float32 on
// the heads' device.
func (s *Step) TargetTap(view, key string) *ts.Tensor {
	k := method.FeatureKey(view, key, true)
	f, ok := s.targets[k]
	if !ok {
		panic(fmt.Sprintf("%s: no target feature %q in the Spec", s.spec.Name, k))
	}
	return s.T(s.T(s.T(f.MustDetach(false)).MustTo(s.Heads.Dev, false)).MustTotype(gotch.Float, false))
}

// Label is a pseudo-label of the request ("v1/boxes"), or an error naming
// what the host sent (Forward returns it; the kit prefixes the method).
func (s *Step) Label(key string) (*ts.Tensor, error) {
	l, err := s.Req.Labels.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%w; list it in Spec.PseudoLabels", err)
	}
	return l, nil
}

// SampleIDs are the batch's data-set indices, or an error when the host
// sent none (set Spec.SampleIDs).
func (s *Step) SampleIDs() (*ts.Tensor, error) {
	if s.Req.SampleIDs == nil {
		return nil, errors.New("no sample ids; the Spec must set SampleIDs")
	}
	return s.Req.SampleIDs, nil
}

// Spec is the method's Spec for this step (its taps' layers and patch
// counts, its views).
func (s *Step) Spec() method.Spec { return s.spec }

// Patches are view's online features of a Patches tap as [N, P, C], one
// per layer of the tap in its order, float32 on the heads' device (the
// same P locations of every image, as PatchNCE samples them); autograd
// flows back to the leaves.
func (s *Step) Patches(view, tap string) ([]*ts.Tensor, error) {
	for _, t := range s.spec.EffectiveTaps() {
		if t.Name != tap || t.Kind != method.Patches {
			continue
		}
		out := make([]*ts.Tensor, 0, len(t.Layers))
		for _, k := range t.Keys() {
			x := s.OnlineTap(view, k)
			out = append(out, s.T(x.MustView([]int64{s.N, int64(t.Patches), -1}, false)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("the Spec has no patches tap %q", tap)
}

// EMA moves the heads' EMA copies for this step along t's schedule (the
// host moves the trunk's target along the same one): it records the
// momentum as the metric "momentum" and, on training steps, moves every
// group's target. It returns the momentum.
func (s *Step) EMA(t method.Target) (float64, error) {
	m := t.MomentumAt(s.Index, s.Heads.Total)
	s.Metric("momentum", m)
	if s.Train {
		return m, s.Heads.EMA(m)
	}
	return m, nil
}

// Metric records a named scalar for the step's response.
func (s *Step) Metric(name string, v float64) { s.metrics[name] = v }

// Together runs head once on the online pooled features of views stacked
// as one batch (so BatchNorm sees every view, as SimCLR's reference does)
// and returns one output per view.
func (s *Step) Together(head Head, views ...string) []*ts.Tensor {
	xs := make([]*ts.Tensor, len(views))
	for i, v := range views {
		xs[i] = s.Leaf(method.FeatureKey(v, "pooled", false))
	}
	return s.Stacked(head, xs...)
}

// Stacked runs head once on xs stacked along the batch (each moved to the
// heads' device as float32) and returns one output per input.
func (s *Step) Stacked(head Head, xs ...*ts.Tensor) []*ts.Tensor {
	x := ToHead(s.Scope, s.T(ts.MustCat(xs, 0)), s.Heads.Dev)
	z := s.T(head.Forward(x, s.Train))
	out := make([]*ts.Tensor, len(xs))
	var at int64
	for i, xi := range xs {
		n := xi.MustSize()[0]
		out[i] = s.T(z.MustNarrow(0, at, n, false))
		at += n
	}
	return out
}

// grads collects d loss / d feature for every online feature.
func (s *Step) grads() (method.Tensors, error) {
	out := method.Tensors{}
	for _, k := range s.order {
		g, err := nn.Grad(s.leaves[k])
		if err != nil {
			out.Drop()
			return nil, fmt.Errorf("%s step: gradient of %s: %w", s.spec.Name, k, err)
		}
		out[k] = g
	}
	return out, nil
}
