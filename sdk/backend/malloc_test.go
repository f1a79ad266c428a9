package backend

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestHoldFreedMemory checks, in a child process (the setting is
// process-wide), that a freed 64 MiB tensor's memory stays resident after
// HoldFreedMemory (glibc would otherwise unmap it at once) and that
// TrimMalloc still hands it back; and that without the call it is unmapped.
func TestHoldFreedMemory(t *testing.T) {
	const mib = 1 << 20
	if mode := os.Getenv("SELFSUP_MALLOC_CHILD"); mode != "" {
		if mode == "hold" {
			if err := HoldFreedMemory(); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := ResidentBytes()
		x := ts.MustOnes([]int64{16 * mib}, gotch.Float, gotch.CPU) // 64 MiB, touched
		x.MustDrop()
		held, _ := ResidentBytes()
		TrimMalloc()
		trimmed, _ := ResidentBytes()
		if d := held - before; mode == "hold" && d < 48*mib {
			t.Errorf("held: resident memory grew %d MiB over the freed tensor, want ≥ 48 (kept)", d/mib)
		} else if mode == "default" && d > 16*mib {
			t.Errorf("default malloc: resident memory grew %d MiB after the tensor was freed, want it unmapped", d/mib)
		}
		if d := trimmed - before; d > 16*mib {
			t.Errorf("after TrimMalloc resident memory is %d MiB over the start, want the tensor's memory returned", d/mib)
		}
		os.Stdout.WriteString("checked\n")
		return
	}
	for _, mode := range []string{"hold", "default"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHoldFreedMemory$", "-test.v")
			cmd.Env = append(os.Environ(), "SELFSUP_MALLOC_CHILD="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "checked") {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}
