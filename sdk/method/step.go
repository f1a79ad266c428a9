package method

import "github.com/sugarme/gotch/ts"

// SetupRequest tells a method the shapes it will receive and its
// configuration.
type SetupRequest struct {
	// FeatureDims gives, per feature key of one view (Spec.EffectiveTaps,
	// e.g. "pooled", "patches.layer2"), the shape of one sample's features
	// without the batch dimension ([128] for a pooled tap, [C] for patches,
	// [C, H, W] for a layer).
	FeatureDims map[string][]int64
	// Config overrides Spec.Defaults key by key (a recipe file's "method"
	// section, flags).
	Config Params
	// NumSamples is the size of the training set (memory banks need it).
	NumSamples int64
	// TotalSteps is the planned length of training (schedules need it).
	TotalSteps int64
	// Device is where the method keeps its tensors: "cpu", "cuda", "cuda:N".
	Device string
	// Seed seeds the method's own randomness (head initialisation, noise).
	Seed int64
}

// SetupResponse reports what Setup built.
type SetupResponse struct {
	// Parameters is the number of trainable scalars the method owns.
	Parameters int64
}

// StepRequest carries one batch of trunk features to a method.
type StepRequest struct {
	// Step is the global training step (0-based); schedules use it with
	// SetupRequest.TotalSteps.
	Step int64
	// Train updates the method's parameters and state when true; when false
	// the step only evaluates (no update, no enqueue).
	Train bool
	// Features are keyed by FeatureKey(view, tap, target). Online features
	// are the host's values (the method must not free or modify them);
	// the method returns the gradient for each of them.
	Features Tensors
	// Labels are the augmenter's pseudo-labels, keyed "view/name": int64
	// [N] labels (e.g. "v1/rotation"), and, when Spec.PseudoLabels lists
	// "boxes", each view's crop boxes "view/boxes", float32 [N, 4] x0, y0,
	// x1, y1 in the original image's pixels (a flipped view has x0 > x1).
	Labels Tensors
	// SampleIDs are the data-set indices of the batch's images (int64 [N]),
	// when Spec.SampleIDs.
	SampleIDs *ts.Tensor
}

// StepResponse is a method's answer to a StepRequest. The caller owns (and
// frees) Grads.
type StepResponse struct {
	// Loss is the scalar loss of the batch.
	Loss float64
	// Metrics are named scalars worth logging (accuracy of the positive,
	// entropy of codes, learning rate of the heads, ...).
	Metrics map[string]float64
	// Grads holds d Loss / d Features[key] for every online feature key;
	// the host back-propagates it into the trunk.
	Grads Tensors
}
