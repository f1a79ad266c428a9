package tensor

import (
	"runtime"

	"github.com/selfsup/selfsup/sdk/backend"
)

// libtorch keeps two things per OS thread that gotch relies on: autograd's
// grad mode, and gotch's last-error slot (read right after every call). A
// goroutine can move to another OS thread between two cgo calls, so code that
// drives libtorch must stay on one thread while it works: a training loop,
// a plugin's request handler.

// Pinned runs fn on the calling goroutine's current OS thread (nested calls
// are fine) so that grad mode and gotch's error slot stay with it.
func Pinned(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fn()
}

// NoGrad runs fn with autograd off, pinned to one OS thread, and restores the
// previous grad mode. gotch's own ts.NoGrad flips the thread-local mode
// without pinning (its ops may run on a thread that still records
// gradients) and always turns it back on, even when nested.
func NoGrad(fn func()) {
	Pinned(func() {
		prev := backend.GradEnabled()
		backend.SetGradEnabled(false)
		defer backend.SetGradEnabled(prev)
		fn()
	})
}
