// Package method defines the one boundary of selfsup: a self-supervised
// method receives trunk features from a host and returns a loss, metrics and
// the gradient of the loss with respect to those features. Everything that
// is specific to a method (heads, prototypes, queues, memory banks, centres,
// its own optimizer) lives behind this interface, in process or in a plugin
// process; callers cannot tell the two apart.
//
// A Method works on two levels:
//   - Loss: a pure function of role-named tensors, params and state (the
//     roles of sdk/conformance/testdata/METHODS.md), so golden vectors test it
//     directly;
//   - Step: a training step on trunk features — its heads, the Loss, an
//     update of its own parameters, and d loss / d features back to the host.
package method

import (
	"context"
)

// Method is a self-supervised learning objective with its own parameters and
// state. Calls on one Method are not safe for concurrent use.
type Method interface {
	// Spec says what the method needs from a host. It is valid before Setup.
	Spec() Spec
	// Setup builds the method's heads and state for the trunk features a host
	// will send (their dimensions), with the method's configuration.
	Setup(ctx context.Context, req SetupRequest) (SetupResponse, error)
	// Loss evaluates the method's loss on role-named tensors (no parameters
	// of the method are involved) and returns the gradient with respect to
	// every input that is not detached, and the state after the step.
	Loss(ctx context.Context, in LossInput) (LossOutput, error)
	// Step runs one training step of the method on trunk features: heads,
	// loss, an update of the method's own parameters (when req.Train), and the
	// gradient of the loss with respect to every feature it was given.
	Step(ctx context.Context, req StepRequest) (StepResponse, error)
	// Save serialises all method state (heads, optimizer, queues, centres,
	// step counters) so that Load on a fresh Method of the same Spec and
	// Setup continues exactly.
	Save(ctx context.Context) ([]byte, error)
	// Load restores state written by Save.
	Load(ctx context.Context, state []byte) error
	// Close frees the method's tensors (and, for a plugin, its process).
	Close() error
}

// Constructor makes fresh instances of one named method. A plugin binary
// serves a list of constructors; a registry maps names to them.
type Constructor struct {
	// Name is the method id, lower case (e.g. "simclr", "moco", "curl").
	Name string
	// Summary is one line for listings.
	Summary string
	// New returns a fresh, not yet set-up method.
	New func() Method
}
