// Package nn holds the small reusable building blocks that methods assemble
// their heads from, on gotch: Linear and BatchNorm layers, an MLP that makes
// projectors and predictors, an EMA (momentum) update of variables,
// parameter counts, and the leaf/gradient helpers of autograd. It knows
// nothing of methods: sdk/methodkit owns heads, optimizers and state.
//
// Variables live in a gotch nn.VarStore, so a head is a VarStore plus the
// layer structs that point into it. Initial values come from a seeded Go RNG
// (math/rand/v2), never from libtorch's global generator, so setting up a
// method does not disturb the host's random stream and the same seed gives
// the same head in process and in a plugin process.
//
// libtorch's grad mode is per OS thread; Autograd and NoGrad pin the calling
// goroutine to its thread while they hold the mode, which gotch's own
// ts.NoGrad does not.
package nn
