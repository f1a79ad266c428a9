package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/plugin"
)

var ctor = methodkit.Constructor(Def)

// TestConformanceInProcess runs the example's own cases against the method.
func TestConformanceInProcess(t *testing.T) {
	conformance.Test(t, ctor, "cases")
}

// TestStep checks the training step the way the kit checks every plugin:
// finite loss, gradient shapes, the loss falls on one batch as the projector
// trains, an evaluation step changes nothing, save/load round-trips (the
// projector, its EMA copy and Adam's state), flat memory.
func TestStep(t *testing.T) {
	conformance.TestStep(t, ctor, conformance.StepOptions{})
}

// TestConformanceOutOfProcess builds the plugin binary and runs its cases
// through the plugin protocol, as `selfsup plugin check` does.
func TestConformanceOutOfProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "selfsup-simmoco")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	ctx := context.Background()
	m, err := plugin.Open(ctx, bin, plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases, err := conformance.LoadCases("cases")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	passed, failed := conformance.RunAll(ctx, &out, conformance.Methods(map[string]method.Method{"simmoco": m}), cases)
	if failed != 0 || passed != len(cases) {
		t.Errorf("%d passed, %d failed:\n%s", passed, failed, out.String())
	}
	if !strings.Contains(out.String(), "3 passed, 0 failed") {
		t.Errorf("closing line missing:\n%s", out.String())
	}
	t.Logf("%s", out.String())
}
