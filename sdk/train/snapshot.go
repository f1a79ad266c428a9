package train

import (
	"context"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/recovery"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// snapshot is the run's state held in memory, for recovery: what a
// checkpoint holds, with copies of the weights instead of aliases.
type snapshot struct {
	tensors map[string]*ts.Tensor // owned
	st      state
}

func (s *snapshot) Step() int64 { return s.st.Step }
func (s *snapshot) Release()    { dropAll(s.tensors) }

var _ recovery.Loop = (*Trainer)(nil)

// Snapshot captures the run's state in memory (recovery.Loop).
func (t *Trainer) Snapshot(ctx context.Context) (recovery.Snapshot, error) {
	var (
		snap *snapshot
		err  error
	)
	tensor.Pinned(func() { snap, err = t.snapshot(ctx) })
	return snap, err
}

func (t *Trainer) snapshot(ctx context.Context) (*snapshot, error) {
	tensors, owned, st, err := t.capture(ctx)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{tensors: owned, st: st}
	for k, x := range tensors {
		if _, ok := owned[k]; ok {
			continue
		}
		c := x.MustZerosLike(false)
		snap.tensors[k] = c
		if err := backend.Copy([]*ts.Tensor{c}, []*ts.Tensor{x}); err != nil {
			snap.Release()
			return nil, fmt.Errorf("snapshot: copy %s: %w", k, err)
		}
	}
	return snap, nil
}

// Restore puts the run back to a snapshot it took (recovery.Loop); the
// history keeps the records up to the snapshot's step.
func (t *Trainer) Restore(ctx context.Context, s recovery.Snapshot) error {
	snap, ok := s.(*snapshot)
	if !ok {
		return fmt.Errorf("train: restore a %T, not a snapshot of a Trainer", s)
	}
	var err error
	tensor.Pinned(func() { err = t.restore(ctx, snap.tensors, snap.st) })
	if err != nil {
		return fmt.Errorf("train: restore the snapshot of step %d: %w", snap.st.Step, err)
	}
	for len(t.history) > 0 && t.history[len(t.history)-1].Step > snap.st.Step {
		t.history = t.history[:len(t.history)-1]
	}
	return nil
}
