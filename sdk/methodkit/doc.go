// Package methodkit is the base every selfsup method is written on. A
// method says only what differs from the others, in a Def:
//
//   - a config struct whose field tags declare each hyper-parameter once
//     (`param:"temperature" default:"0.5" doc:"..."`): they give the Spec's
//     defaults and docs, decode the host's config, and reject unknown keys
//     with the list of known ones (Decode, Defaults, Docs);
//   - the Spec: views, taps, EMA target, pseudo-labels;
//   - Build: the heads under Heads (h.Sub, h.Rng, h.Adam, h.EMATarget,
//     h.NewGroup for a second set of variables with its own optimizer);
//   - a Stepper's Forward from the step's checked features (Step.Online,
//     Step.Target, Step.OnlineTap, Step.Together) to a scalar loss;
//   - the loss on its conformance roles (Loss), which golden cases test.
//
// The kit owns the skeleton: context and set-up checks, gathering and
// checking every feature the Spec promises, leaves, autograd and a scope
// that frees the step's tensors, zero-grad, backward, the one NaN message,
// the optimizer step on training steps, the feature gradients back to the
// host, Save/Load of every head group, optimizer and counter, and Close.
// Optional abilities are small interfaces a Stepper implements: Updater (its
// own update: clipping, schedules, freezes), AfterUpdater (queues, memory
// banks, centres, EMA heads), Stater (state beyond the heads) and Releaser.
//
// plugins/simclr is the shortest complete example; examples/plugin-with-head
// is one written from outside the repository. Stateless makes a method from a
// loss alone.
package methodkit
