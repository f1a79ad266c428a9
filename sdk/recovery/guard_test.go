package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/method"
)

// sumLoop is a loop whose state is a running sum of f(step), with the sum
// kept by its method (so a death loses it) and the step by the host.
type sumLoop struct {
	steps int64
	m     *sumMethod
	snaps int
}

type sumSnap struct{ step, sum int64 }

func (s sumSnap) Step() int64 { return s.step }
func (s sumSnap) Release()    {}

func (l *sumLoop) StepsDone() int64 { return l.steps }
func (l *sumLoop) Snapshot(context.Context) (Snapshot, error) {
	if l.m.dead { // a snapshot saves the method's state: it finds it dead
		return nil, fmt.Errorf("save: %w", method.ErrDied)
	}
	l.snaps++
	return sumSnap{l.steps, l.m.sum}, nil
}
func (l *sumLoop) Restore(_ context.Context, s Snapshot) error {
	ss := s.(sumSnap)
	l.steps, l.m.sum = ss.step, ss.sum
	return nil
}

func (l *sumLoop) step(context.Context) error {
	if l.m.dead {
		return fmt.Errorf("step %d: %w", l.steps, method.ErrDied)
	}
	l.m.sum = l.m.sum*31 + l.steps*l.steps + 1 // order matters: a skipped or repeated step shows
	if l.m.dieAt[l.steps] {
		delete(l.m.dieAt, l.steps)
		l.m.dead, l.m.sum = true, 0
		return fmt.Errorf("step %d: %w", l.steps, method.ErrDied)
	}
	l.steps++
	if l.m.dieAfter[l.steps] { // killed between steps: the next call finds out
		delete(l.m.dieAfter, l.steps)
		l.m.dead, l.m.sum = true, 0
	}
	return nil
}

// sumMethod is the method side: only the fields the loop uses matter.
type sumMethod struct {
	method.Method
	sum      int64
	dead     bool
	dieAt    map[int64]bool
	dieAfter map[int64]bool // die once StepsDone reaches it
	restarts int
}

func (m *sumMethod) Spec() method.Spec { return method.Spec{Name: "sum"} }
func (m *sumMethod) Restart(context.Context) error {
	m.restarts++
	m.dead, m.sum = false, -1 // fresh and wrong until restored
	return nil
}

// noRestart is a method in process: it cannot restart.
type noRestart struct{ method.Method }

func (noRestart) Spec() method.Spec { return method.Spec{Name: "sum"} }

func run(t *testing.T, g *Guard, l *sumLoop, n int64) error {
	t.Helper()
	for l.steps < n {
		if err := g.Step(context.Background(), l.step); err != nil {
			return err
		}
	}
	return nil
}

func TestGuard(t *testing.T) {
	want := func() int64 {
		l := &sumLoop{m: &sumMethod{}}
		for l.steps < 20 {
			l.step(context.Background())
		}
		return l.m.sum
	}()
	tests := []struct {
		name              string
		dieAt, dieAfter   []int64
		every, restarts   int
		wantRestarts      int
		wantReplayed      int64
		wantSnaps         int
		wantLost, inProcs bool
	}{
		{name: "no death", every: 5, wantSnaps: 4},
		{name: "one death", dieAt: []int64{7}, every: 5, wantRestarts: 1, wantReplayed: 2, wantSnaps: 4},
		{name: "death on a snapshot step", dieAt: []int64{10}, every: 5, wantRestarts: 1, wantReplayed: 0, wantSnaps: 4},
		{name: "deaths in a row", dieAt: []int64{3, 4, 19}, every: 5, wantRestarts: 3, wantReplayed: 3 + 4 + 4, wantSnaps: 4},
		// dead when the snapshot of step 10 is due: restored to step 5's
		{name: "death found by a snapshot", dieAfter: []int64{10}, every: 5, wantRestarts: 1, wantReplayed: 5, wantSnaps: 4},
		{name: "restarts used up", dieAt: []int64{3, 4}, every: 5, restarts: 1, wantLost: true},
		{name: "none allowed", dieAt: []int64{3}, every: 5, restarts: -1, wantLost: true},
		{name: "in process", dieAt: []int64{3}, every: 5, inProcs: true, wantLost: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sm := &sumMethod{dieAt: map[int64]bool{}, dieAfter: map[int64]bool{}}
			for _, s := range tc.dieAt {
				sm.dieAt[s] = true
			}
			for _, s := range tc.dieAfter {
				sm.dieAfter[s] = true
			}
			l := &sumLoop{m: sm}
			var m method.Method = sm
			if tc.inProcs {
				m = noRestart{}
			}
			g := New(m, l, Options{Every: int64(tc.every), MaxRestarts: tc.restarts, Resume: "run it with --resume", Log: zerolog.Nop()})
			defer g.Close()
			err := run(t, g, l, 20)
			if tc.wantLost {
				var lost *LostError
				if !errors.As(err, &lost) || !errors.Is(err, method.ErrDied) || !strings.Contains(err.Error(), "--resume") {
					t.Fatalf("got %v, want a *LostError that is a death and says how to resume", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.m.sum != want {
				t.Errorf("sum %d after recovery, want %d (uninterrupted)", l.m.sum, want)
			}
			if g.Restarts() != tc.wantRestarts || g.Replayed() != tc.wantReplayed || l.snaps != tc.wantSnaps {
				t.Errorf("restarts %d, replayed %d, snapshots %d; want %d, %d, %d", g.Restarts(), g.Replayed(), l.snaps, tc.wantRestarts, tc.wantReplayed, tc.wantSnaps)
			}
		})
	}
}

// TestGuardPassesOtherErrors: an error that is not a death ends the step
// as it is, without a restart.
func TestGuardPassesOtherErrors(t *testing.T) {
	sm := &sumMethod{}
	l := &sumLoop{m: sm}
	g := New(sm, l, Options{Log: zerolog.Nop()})
	boom := errors.New("boom")
	if err := g.Step(context.Background(), func(context.Context) error { return boom }); err != boom {
		t.Fatalf("got %v, want the step's own error", err)
	}
	if sm.restarts != 0 {
		t.Fatal("restarted on an error that was not a death")
	}
}
