package recovery

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/method"
)

// Loop is a training loop a Guard can snapshot and restore. Its steps must
// be deterministic functions of its state (each step draws its randomness
// from the run's seed and the step number), so that replaying them from a
// snapshot gives back the same state.
type Loop interface {
	// StepsDone is the number of steps taken.
	StepsDone() int64
	// Snapshot captures everything the loop needs to continue exactly from
	// here, the method's state included (method.Save).
	Snapshot(ctx context.Context) (Snapshot, error)
	// Restore puts the loop, the method's state included (method.Load),
	// back to a snapshot it took; StepsDone is then s.Step().
	Restore(ctx context.Context, s Snapshot) error
}

// Snapshot is a loop's state at one step, held in memory.
type Snapshot interface {
	// Step is the loop's StepsDone when the snapshot was taken.
	Step() int64
	// Release frees the snapshot's memory.
	Release()
}

// Options configure a Guard.
type Options struct {
	// Every is how many steps apart snapshots are taken (default 100).
	// A snapshot costs a copy of the loop's tensors and a method.Save.
	Every int64
	// MaxRestarts is how many restarts one run may use (default 3; a
	// negative value allows none).
	MaxRestarts int
	// Resume tells the user how to go on when recovery is impossible
	// ("resume the run with selfsup pretrain --resume"); it ends the
	// *LostError's message.
	Resume string
	// Log receives a line per snapshot restored and per replay.
	Log zerolog.Logger
}

// Guard runs a Loop's steps and recovers from the death of its method.
// Like the loop, it is for one goroutine.
type Guard struct {
	m        method.Method
	loop     Loop
	opts     Options
	snap     Snapshot
	restarts int
	replayed int64
}

// New guards loop, whose method is m. Snapshots are taken only when m can
// restart (method.Restarter); a method in process cannot die on its own.
func New(m method.Method, loop Loop, o Options) *Guard {
	if o.Every <= 0 {
		o.Every = 100
	}
	if o.MaxRestarts == 0 {
		o.MaxRestarts = 3
	}
	if o.MaxRestarts < 0 {
		o.MaxRestarts = 0
	}
	if o.Resume == "" {
		o.Resume = "resume the run from its last checkpoint"
	}
	return &Guard{m: m, loop: loop, opts: o}
}

// LostError is a death of the method the Guard could not recover from.
type LostError struct {
	// Method is the method's name, Step the step that failed.
	Method string
	Step   int64
	// Reason says why recovery was impossible; Resume what to do.
	Reason, Resume string
	// Err is the death (errors.Is(err, method.ErrDied) holds).
	Err error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("method %s died at step %d and the run cannot go on exactly (%s): %v; stopped rather than continue from a state it did not have: %s", e.Method, e.Step, e.Reason, e.Err, e.Resume)
}

func (e *LostError) Unwrap() error { return e.Err }

// Restarts is how many times the method was restarted.
func (g *Guard) Restarts() int { return g.restarts }

// Replayed is how many steps recoveries replayed.
func (g *Guard) Replayed() int64 { return g.replayed }

// Close frees the snapshot.
func (g *Guard) Close() {
	if g.snap != nil {
		g.snap.Release()
		g.snap = nil
	}
}

// Mark takes a snapshot now, replacing the last one (a host may call it
// after writing a checkpoint). It does nothing for a method that cannot
// restart.
func (g *Guard) Mark(ctx context.Context) error {
	if _, ok := g.m.(method.Restarter); !ok {
		return nil
	}
	s, err := g.loop.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("recovery: snapshot at step %d: %w", g.loop.StepsDone(), err)
	}
	g.Close()
	g.snap = s
	return nil
}

// Step takes the loop's next step with step (which must advance StepsDone
// by one), snapshotting first when one is due. When step (or the snapshot)
// fails with method.ErrDied, Step restarts the method, restores the last
// snapshot, replays the steps since with step and takes the failed step
// again.
func (g *Guard) Step(ctx context.Context, step func(context.Context) error) error {
	want := g.loop.StepsDone() + 1
	if _, ok := g.m.(method.Restarter); ok && (g.snap == nil || g.loop.StepsDone()-g.snap.Step() >= g.opts.Every) {
		if err := g.Mark(ctx); err != nil {
			if !errors.Is(err, method.ErrDied) {
				return err
			}
			// died since the last step: the previous snapshot stands
			if err := g.recover(ctx, want-1, err); err != nil {
				return err
			}
		}
	}
	for g.loop.StepsDone() < want {
		err := step(ctx)
		if err == nil || !errors.Is(err, method.ErrDied) {
			if err != nil {
				return err
			}
			continue
		}
		if err := g.recover(ctx, want-1, err); err != nil {
			return err
		}
	}
	return nil
}

// recover brings the loop back to its last snapshot with a restarted
// method, after the method died during step failed.
func (g *Guard) recover(ctx context.Context, failed int64, died error) error {
	name := g.m.Spec().Name
	lost := func(reason string, err error) error {
		if err != nil {
			reason = fmt.Sprintf("%s: %v", reason, err)
		}
		return &LostError{Method: name, Step: failed, Reason: reason, Resume: g.opts.Resume, Err: died}
	}
	r, ok := g.m.(method.Restarter)
	switch {
	case ctx.Err() != nil:
		return died
	case !ok:
		return lost("the method cannot restart", nil)
	case g.snap == nil:
		return lost("no snapshot to restore", nil)
	case g.restarts >= g.opts.MaxRestarts:
		return lost(fmt.Sprintf("all %d restarts used", g.opts.MaxRestarts), nil)
	}
	g.restarts++
	if err := r.Restart(ctx); err != nil {
		return lost("the restart failed", err)
	}
	if err := g.loop.Restore(ctx, g.snap); err != nil {
		return lost(fmt.Sprintf("restoring the snapshot of step %d failed", g.snap.Step()), err)
	}
	n := failed - g.snap.Step()
	g.replayed += n
	g.opts.Log.Warn().Str("method", name).Int64("failed_step", failed).Int64("snapshot_step", g.snap.Step()).
		Int64("replay_steps", n).Int("restart", g.restarts).Err(died).
		Msg("method died; restarted it, restored the last snapshot and replaying the steps since")
	return nil
}
