package method

import (
	"errors"
	"fmt"

	"github.com/selfsup/selfsup/sdk/schedule"
)

// Spec tells a host everything it must do for a method: which views to make
// with which augmentation recipes, which views go through the trunk being
// trained and which through its EMA target, which features to tap, and what
// else to send (pseudo-labels, sample ids, modalities). Hosts build their
// pipeline from the Spec alone, so a new method needs no host change.
type Spec struct {
	// Name is the method id.
	Name string `json:"name"`
	// Views are the augmented views of each image, in order.
	Views []View `json:"views"`
	// Target, when set, asks the host to keep an EMA copy of the trunk and to
	// pass the views marked Target through it (without gradient).
	Target *Target `json:"target,omitempty"`
	// Taps are the features to take from the trunk for every view. Empty
	// means one pooled tap named "pooled".
	Taps []Tap `json:"taps,omitempty"`
	// PseudoLabels are labels the augmenters make (e.g. "rotation",
	// "permutation", "patch_position": int64 tensors) and "boxes" (each
	// view's crop boxes, float32); see StepRequest.Labels.
	PseudoLabels []string `json:"pseudo_labels,omitempty"`
	// SampleIDs asks for the data-set index of every image (memory banks).
	SampleIDs bool `json:"sample_ids,omitempty"`
	// Modalities, when set, names the modalities of multi-modal methods
	// (e.g. CMC's "L" and "ab"); views then carry a Modality.
	Modalities []string `json:"modalities,omitempty"`
	// Defaults are the method's default hyper-parameters; SetupRequest.Config
	// overrides them key by key.
	Defaults Params `json:"defaults,omitempty"`
	// Docs say in one line what each hyper-parameter of Defaults does
	// (`selfsup plugin params` prints them); methods on the kit take them
	// from their config's tags.
	Docs map[string]string `json:"docs,omitempty"`
	// Pass says how views go through a trunk (and through the target):
	// each on its own (EachView, the default) or views of equal shape as
	// one batch (Together), as the method's official code does. It decides
	// what BatchNorm's batch statistics cover.
	Pass Pass `json:"pass,omitempty"`
	// BatchNormSplits, above 1, makes the trunk's and the target's
	// BatchNorm layers normalise each of that many equal, interleaved
	// splits of a batch with its own statistics in train mode, averaging
	// the running statistics over the splits (SplitBatchNorm of MoCo's
	// CIFAR-10 demo: one process standing in for that many devices). The
	// batch size must divide by it.
	BatchNormSplits int `json:"batch_norm_splits,omitempty"`
}

// Pass is how a method's views go through a trunk.
type Pass string

// Passes.
const (
	// EachView runs every view through the trunk on its own: BatchNorm
	// sees N images (MoCo, BYOL, SimSiam, Barlow Twins, the debiased and
	// hard-negative losses' official code).
	EachView Pass = "each"
	// Together concatenates the views of equal shape, in Spec order, into
	// one batch per shape: BatchNorm sees k·N images (SimCLR's tf2 model,
	// InvaSpread, align/uniform; SwAV and DINO grouping crops by
	// resolution).
	Together Pass = "together"
)

// View is one augmented view of every image in a batch.
type View struct {
	// Name keys the view's features ("v1", "v2", "global1", "local3", ...).
	Name string `json:"name"`
	// Recipe names the augmentation recipe ("simclr", "mocov2", "byol1",
	// "byol2", "dino-global", "dino-local", "curl-crop", "identity", ...).
	Recipe string `json:"recipe"`
	// Size is the side of the view in pixels; 0 keeps the data's size.
	Size int `json:"size,omitempty"`
	// Online views go through the trunk being trained, with gradient.
	Online bool `json:"online,omitempty"`
	// Target views go through the EMA target trunk, without gradient.
	Target bool `json:"target,omitempty"`
	// Modality names the view's modality for multi-modal methods.
	Modality string `json:"modality,omitempty"`
	// Grid, when set, cuts the view into a grid of overlapping square
	// patches after its recipe (CPC's patch grid): every patch goes through
	// the trunk on its own, and each tap's features of the view gain the
	// grid's two axes, [N, G, G, ...] in row-major order (row i is the
	// i-th band from the top). The view needs a Size.
	Grid *Grid `json:"grid,omitempty"`
}

// Grid is a view's grid of patches: Patch×Patch squares every Stride
// pixels across and down, G = (Size − Patch)/Stride + 1 per side.
type Grid struct {
	// Patch is the side of a patch in pixels.
	Patch int `json:"patch"`
	// Stride is the step between patches; below Patch they overlap.
	Stride int `json:"stride"`
	// PatchRecipe, when set, names an augmentation recipe applied to every
	// patch on its own after the cut (CPC v2's per-patch augmentation);
	// it must keep the patch's size.
	PatchRecipe string `json:"patch_recipe,omitempty"`
}

// Side is G, the number of patches per side of a view of side size, or 0
// when the grid does not tile it (see Validate).
func (g Grid) Side(size int) int {
	if g.Patch <= 0 || g.Stride <= 0 || size < g.Patch || (size-g.Patch)%g.Stride != 0 {
		return 0
	}
	return (size-g.Patch)/g.Stride + 1
}

// Schedule is how a momentum (or any coefficient) moves over training.
type Schedule string

// Momentum schedules.
const (
	// Constant keeps the base value.
	Constant Schedule = "constant"
	// Cosine goes from the base value to the final value along a half cosine
	// over training (BYOL: 1 - (1-base)(cos(pi k/K)+1)/2).
	Cosine Schedule = "cosine"
)

// Target describes the EMA copy of the trunk a host keeps for a method.
type Target struct {
	// Momentum is the EMA coefficient m in target = m*target + (1-m)*online.
	Momentum float64 `json:"momentum"`
	// Schedule moves m from Momentum to FinalMomentum (default Constant).
	Schedule Schedule `json:"schedule,omitempty"`
	// FinalMomentum is m at the end of training for Cosine (default 1).
	FinalMomentum float64 `json:"final_momentum,omitempty"`
	// Inference runs the target in inference mode, BatchNorm on its
	// running statistics, as a frozen teacher is run (simclrv2_distill);
	// by default it runs in training mode, as MoCo's and BYOL's key and
	// target encoders do.
	Inference bool `json:"inference,omitempty"`
	// Shuffle permutes the target's batch (a fresh permutation every step,
	// from the run's seed) before its pass and restores the order after,
	// so that with BatchNormSplits its BatchNorm groups differ from the
	// trunk's (MoCo's Shuffle-BN, which keeps a query and its key from
	// sharing batch statistics).
	Shuffle bool `json:"shuffle,omitempty"`
}

// TapKind says what a tap takes from the trunk.
type TapKind string

// Tap kinds.
const (
	// Pooled is the trunk's pooled embedding, [N, D].
	Pooled TapKind = "pooled"
	// Layer is a whole named feature map, [N, C, H, W].
	Layer TapKind = "layer"
	// Patches are feature vectors at Patches locations sampled from named
	// feature maps, the same locations for every view: [N*Patches, C] per
	// layer (PatchNCE).
	Patches TapKind = "patches"
)

// Tap is one feature a method takes from the trunk for every view.
type Tap struct {
	// Name keys the tap's features; for Layer and Patches taps with several
	// layers the key is Name + "." + layer.
	Name string `json:"name"`
	// Kind is Pooled, Layer or Patches.
	Kind TapKind `json:"kind"`
	// Layers names the trunk's feature maps (Layer, Patches).
	Layers []string `json:"layers,omitempty"`
	// Patches is the number of locations sampled per image (Patches).
	Patches int `json:"patches,omitempty"`
}

// Keys are the tap's feature keys within a view: its Name for a pooled
// tap, Name + "." + layer for each layer of a Layer or Patches tap (the
// keys of SetupRequest.FeatureDims).
func (t Tap) Keys() []string {
	if t.Kind == Pooled || t.Kind == "" {
		return []string{t.Name}
	}
	keys := make([]string, len(t.Layers))
	for i, l := range t.Layers {
		keys[i] = t.Name + "." + l
	}
	return keys
}

// FeatureKey is the key of one view's tap in StepRequest.Features:
// "view/tap", with "@target" appended for features of the EMA target.
func FeatureKey(view, tap string, target bool) string {
	if target {
		return view + "/" + tap + "@target"
	}
	return view + "/" + tap
}

// EffectiveTaps returns the Spec's taps, or the default pooled tap.
func (s Spec) EffectiveTaps() []Tap {
	if len(s.Taps) == 0 {
		return []Tap{{Name: "pooled", Kind: Pooled}}
	}
	return s.Taps
}

// Validate checks that the Spec is one a host can build.
func (s Spec) Validate() error {
	if s.Name == "" {
		return errors.New("spec: empty method name")
	}
	if len(s.Views) == 0 {
		return fmt.Errorf("spec %s: no views", s.Name)
	}
	seen := map[string]bool{}
	anyTarget := false
	for _, v := range s.Views {
		if v.Name == "" || v.Recipe == "" {
			return fmt.Errorf("spec %s: view %+v needs a name and a recipe", s.Name, v)
		}
		if seen[v.Name] {
			return fmt.Errorf("spec %s: view %q twice", s.Name, v.Name)
		}
		seen[v.Name] = true
		if !v.Online && !v.Target {
			return fmt.Errorf("spec %s: view %q goes through neither the trunk nor the target", s.Name, v.Name)
		}
		if g := v.Grid; g != nil {
			if v.Size <= 0 {
				return fmt.Errorf("spec %s: grid view %q needs a size", s.Name, v.Name)
			}
			if g.Side(v.Size) < 2 {
				return fmt.Errorf("spec %s: view %q: patches of %d every %d pixels do not tile %d pixels in a grid of at least 2×2; want (size − patch) a multiple of stride", s.Name, v.Name, g.Patch, g.Stride, v.Size)
			}
			for _, tap := range s.Taps {
				if tap.Kind != Pooled {
					return fmt.Errorf("spec %s: grid view %q with a %s tap: grid views take pooled taps only", s.Name, v.Name, tap.Kind)
				}
			}
		}
		anyTarget = anyTarget || v.Target
	}
	if anyTarget && s.Target == nil {
		return fmt.Errorf("spec %s: views go through a target but the spec declares none", s.Name)
	}
	if t := s.Target; t != nil {
		if t.Momentum < 0 || t.Momentum > 1 {
			return fmt.Errorf("spec %s: target momentum %v outside [0, 1]", s.Name, t.Momentum)
		}
		switch t.Schedule {
		case "", Constant, Cosine:
		default:
			return fmt.Errorf("spec %s: unknown momentum schedule %q", s.Name, t.Schedule)
		}
	}
	switch s.Pass {
	case "", EachView, Together:
	default:
		return fmt.Errorf("spec %s: unknown pass %q (want %q or %q)", s.Name, s.Pass, EachView, Together)
	}
	if s.BatchNormSplits < 0 {
		return fmt.Errorf("spec %s: %d BatchNorm splits", s.Name, s.BatchNormSplits)
	}
	for _, tap := range s.Taps {
		switch tap.Kind {
		case Pooled:
		case Layer, Patches:
			if len(tap.Layers) == 0 {
				return fmt.Errorf("spec %s: tap %q of kind %s names no layers", s.Name, tap.Name, tap.Kind)
			}
			if tap.Kind == Patches && tap.Patches <= 0 {
				return fmt.Errorf("spec %s: patch tap %q samples %d patches", s.Name, tap.Name, tap.Patches)
			}
		default:
			return fmt.Errorf("spec %s: tap %q has unknown kind %q", s.Name, tap.Name, tap.Kind)
		}
	}
	return nil
}

// MomentumAt is the EMA coefficient at step (0-based) of total steps: the
// base Momentum for a Constant schedule; for Cosine it moves from Momentum to
// FinalMomentum (default 1) along a half cosine (schedule.Cosine), as BYOL
// and MoCo v3 do: m = final − (final − base)(cos(π·step/total) + 1)/2.
// Steps past total give the final value; total ≤ 0 gives the base.
func (t Target) MomentumAt(step, total int64) float64 {
	if t.Schedule != Cosine {
		return t.Momentum
	}
	final := t.FinalMomentum
	if final == 0 {
		final = 1
	}
	return schedule.Cosine{Start: t.Momentum, End: final, Total: total}.At(step)
}
