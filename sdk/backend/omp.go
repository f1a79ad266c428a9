package backend

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// runtimeDefaults are the thread runtimes' settings our binaries run with
// unless the user set them. Both runtimes read them once, when libtorch is
// loaded, before main runs.
//
//   - OMP_WAIT_POLICY=PASSIVE: libgomp (libtorch's OpenMP) sleeps instead
//     of spinning while it waits for work. Spinning threads make every step
//     2–3× slower whenever another process (or a plugin) keeps a core busy.
//   - OPENBLAS_THREAD_TIMEOUT=4: OpenBLAS's own worker threads (it runs
//     libtorch's matrix products) sleep after 2⁴ cycles instead of
//     2²⁸ (about 0.1 s) of sched_yield. Their spinning took a core from the
//     OpenMP threads convolving between two matrix products: 8–13 % of an
//     RL update (docs/rl.md, "Speed").
var runtimeDefaults = []string{"OMP_WAIT_POLICY=PASSIVE", "OPENBLAS_THREAD_TIMEOUT=4"}

// EnsurePassiveWait gives libtorch's thread runtimes our defaults (see
// runtimeDefaults: passive OpenMP waits, short OpenBLAS spins). Setting the
// variables from Go is too late, so when any of them is unset it sets the
// missing ones and re-executes the binary with the same arguments; it
// returns only when no re-exec was needed or the re-exec failed. A user's
// own settings are left alone. Call it first thing in main.
func EnsurePassiveWait() error {
	var missing []string
	for _, kv := range runtimeDefaults {
		if _, ok := os.LookupEnv(kv[:strings.IndexByte(kv, '=')]); !ok {
			missing = append(missing, kv)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to re-exec with %s: %w", strings.Join(missing, " "), err)
	}
	if err := syscall.Exec(exe, os.Args, append(os.Environ(), missing...)); err != nil {
		return fmt.Errorf("re-exec %s with %s (set them yourself to skip the re-exec): %w", exe, strings.Join(missing, " "), err)
	}
	return nil
}
