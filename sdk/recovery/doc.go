// Package recovery lets a training loop survive the death of its method's
// process exactly. A Guard keeps an in-memory Snapshot of the loop (trunk,
// target, optimizer, method state, sampler, step) every so many steps. When
// a step fails with method.ErrDied it restarts the method (a new plugin
// process, set up as before), restores the snapshot and replays the steps
// since, deterministically, then takes the failed step again: the run ends
// bit-identical to one that was never interrupted. When that is impossible
// (no snapshot, a method that cannot restart, restarts used up) the step
// fails with a *LostError that says how to resume from a checkpoint; a
// Guard never lets a loop go on from a state it did not have.
//
// Every host uses it: the pre-training loop (sdk/train), the RL runner and
// the translator implement Loop. Faulty is the fault injector their tests
// use: a method that dies at chosen steps, as a killed plugin would.
package recovery
