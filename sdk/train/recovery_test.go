package train

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/plugins"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/recovery"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// runState is everything a run's future depends on, as bytes: trunk,
// target and optimizer tensors, the method's state, the data position and
// the step.
type runState struct {
	tensors map[string][]byte
	method  string
	rest    string
}

func stateOf(t *testing.T, tr *Trainer) runState {
	t.Helper()
	tensors, owned, st, err := tr.capture(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(owned)
	out := runState{tensors: map[string][]byte{}, method: st.MethodState,
		rest: fmt.Sprintf("step %d, position %+v, optimizer steps %d", st.Step, st.Position, st.OptimSteps)}
	for k, x := range tensors {
		b, err := tensor.AppendBytes(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		out.tensors[k] = b
	}
	return out
}

// sameState fails the test where b differs from a.
func sameState(t *testing.T, what string, a, b runState) {
	t.Helper()
	if len(a.tensors) != len(b.tensors) {
		t.Fatalf("%s: %d tensors, want %d", what, len(b.tensors), len(a.tensors))
	}
	var diff []string
	for k, x := range a.tensors {
		if string(x) != string(b.tensors[k]) {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	if len(diff) > 0 {
		t.Errorf("%s: %d of %d tensors differ from the uninterrupted run: %v", what, len(diff), len(a.tensors), diff[:min(len(diff), 6)])
	}
	if a.method != b.method {
		t.Errorf("%s: the method's state differs from the uninterrupted run's", what)
	}
	if a.rest != b.rest {
		t.Errorf("%s: %s, want %s", what, b.rest, a.rest)
	}
}

// recoveryConfig is a short MoCo run: a queue, a key head and an EMA
// target, all of which a silent restart would lose.
func recoveryConfig(t *testing.T, steps int64) Config {
	return Config{
		BatchSize: 32, Steps: steps, Seed: 11, Out: t.TempDir(), SnapshotEvery: 4,
		Method: method.Params{"K": 96},
	}
}

func newMoCo() method.Method {
	m, err := plugins.New("moco")
	if err != nil {
		panic(err)
	}
	return m
}

func trainSteps(t *testing.T, tr *Trainer, n int64, before func(step int64)) []float64 {
	t.Helper()
	var losses []float64
	for tr.StepsDone() < n {
		if before != nil {
			before(tr.StepsDone())
		}
		rec, err := tr.Step(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", tr.StepsDone(), err)
		}
		losses = append(losses, rec.Loss)
	}
	return losses
}

// TestRecoveryFaultInjection kills the method in process (recovery.Faulty)
// at chosen steps, twice in one snapshot interval and once right after a
// snapshot: the run ends with trunk, target, optimizer, method state and
// sampler bit-identical to an uninterrupted run of the same seed, and so
// does every loss it reports.
func TestRecoveryFaultInjection(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	ds := smallData(t)
	const steps = 14
	run := func(m method.Method) (*Trainer, []float64) {
		cfg := recoveryConfig(t, steps)
		cfg.MaxRestarts = 4
		tr, err := New(ctx, cfg, Options{Data: ds, Method: m, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr, trainSteps(t, tr, steps, nil)
	}
	plain, plainLoss := run(newMoCo()) // no snapshots at all
	want := stateOf(t, plain)

	faulty := recovery.NewFaulty(newMoCo, 5, 6, 8, 13)
	tr, losses := run(faulty)
	if faulty.Deaths() != 4 || tr.Restarts() != 4 {
		t.Fatalf("%d deaths, %d restarts; want 4 and 4", faulty.Deaths(), tr.Restarts())
	}
	if r := tr.guard.Replayed(); r != 1+2+0+1 {
		t.Errorf("replayed %d steps, want 4 (snapshots every 4 steps: deaths at 5, 6, 8, 13)", r)
	}
	sameState(t, "after 4 injected deaths", want, stateOf(t, tr))
	if !slices.Equal(losses, plainLoss) {
		t.Errorf("losses differ from the uninterrupted run:\n got %v\nwant %v", losses, plainLoss)
	}
	var hist []float64
	for _, r := range tr.History() {
		hist = append(hist, r.Loss)
	}
	if !slices.Equal(hist, plainLoss) {
		t.Errorf("history holds %d records that differ from the uninterrupted run's %d", len(hist), len(plainLoss))
	}
}

// TestRecoveryImpossibleStopsLoudly: with restarts used up the step fails
// with a *recovery.LostError that says how to resume, and is still a death.
func TestRecoveryImpossibleStopsLoudly(t *testing.T) {
	runtime.LockOSThread()
	ctx := context.Background()
	cfg := recoveryConfig(t, 6)
	cfg.MaxRestarts = -1
	tr, err := New(ctx, cfg, Options{Data: smallData(t), Method: recovery.NewFaulty(newMoCo, 3), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range 3 {
		if _, err := tr.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err = tr.Step(ctx)
	var lost *recovery.LostError
	if !errors.As(err, &lost) || !errors.Is(err, method.ErrDied) {
		t.Fatalf("step with no restarts left: %v, want a *recovery.LostError wrapping method.ErrDied", err)
	}
	for _, w := range []string{"moco", "step 3", "restarts used", "--resume"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if tr.StepsDone() != 3 {
		t.Errorf("the run moved on to step %d after a death it could not recover", tr.StepsDone())
	}
}

// TestRecoveryPluginSIGKILL kills a real moco plugin process with SIGKILL,
// between steps and during one: the trainer restarts it, restores its last
// snapshot, replays, and ends bit-identical to an uninterrupted plugin run.
func TestRecoveryPluginSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin")
	}
	runtime.LockOSThread()
	ctx := context.Background()
	bin := buildPlugin(t, "./plugins/moco/cmd/selfsup-moco", "selfsup-moco")
	ds := smallData(t)
	const steps = 14
	open := func() (*Trainer, *plugin.Method) {
		m, err := plugin.Open(ctx, bin, plugin.Options{Method: "moco"})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(ctx, recoveryConfig(t, steps), Options{Data: ds, Method: m, Log: zerolog.Nop()})
		if err != nil {
			m.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr, m
	}
	plain, _ := open()
	trainSteps(t, plain, steps, nil)
	want := stateOf(t, plain)

	tr, m := open()
	pid := func() int {
		pid := m.PID()
		if pid == 0 {
			t.Fatal("no plugin process to kill")
		}
		return pid
	}
	trainSteps(t, tr, steps, func(step int64) {
		switch step {
		case 6: // between steps: the next call finds the process gone
			if err := syscall.Kill(pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		case 10: // during a step (the trunk's forward takes longer than this)
			p := pid()
			time.AfterFunc(20*time.Millisecond, func() { syscall.Kill(p, syscall.SIGKILL) })
		}
	})
	if tr.Restarts() != 2 {
		t.Fatalf("%d restarts, want 2", tr.Restarts())
	}
	sameState(t, "after two SIGKILLs", want, stateOf(t, tr))
}
