package backend

import (
	"fmt"
	"os"
	"syscall"
)

// EnsurePassiveWait makes libgomp (libtorch's OpenMP runtime) sleep instead
// of spin while it waits for work. Spinning threads make every step 2–3×
// slower whenever another process (or a plugin) keeps a core busy.
//
// libgomp reads OMP_WAIT_POLICY once, when libtorch is loaded — before main
// runs — so setting the variable from Go is too late. When the variable is
// unset, EnsurePassiveWait sets it to PASSIVE and re-executes the binary with
// the same arguments; it returns only when no re-exec was needed or the
// re-exec failed. A user's own OMP_WAIT_POLICY is left alone. Call it first
// thing in main.
func EnsurePassiveWait() error {
	if _, ok := os.LookupEnv("OMP_WAIT_POLICY"); ok {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to re-exec with OMP_WAIT_POLICY=PASSIVE: %w", err)
	}
	env := append(os.Environ(), "OMP_WAIT_POLICY=PASSIVE")
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("re-exec %s with OMP_WAIT_POLICY=PASSIVE (set it yourself to skip the re-exec): %w", exe, err)
	}
	return nil
}
