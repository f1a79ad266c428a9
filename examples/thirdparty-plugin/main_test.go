package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

var ctor = method.Constructor{Name: "vicreg", New: New}

// TestConformanceInProcess runs the example's own cases against the method.
func TestConformanceInProcess(t *testing.T) {
	conformance.Test(t, ctor, "cases")
}

// TestStep checks the method's training step the way the kit checks every
// plugin: finite loss, gradient shapes, falling loss, save/load, flat memory.
func TestStep(t *testing.T) {
	conformance.TestStep(t, ctor, conformance.StepOptions{Stateless: true})
}

// TestConformanceOutOfProcess builds the plugin binary and runs its cases
// through the plugin protocol, as `selfsup plugin check` does.
func TestConformanceOutOfProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "selfsup-vicreg")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	conformance.TestPlugin(t, bin, "cases")
}
