package backend

// #cgo CXXFLAGS: -std=c++17 -O2
// #cgo LDFLAGS: -lstdc++ -ltorch -ltorch_cpu -lc10
// #include <stdlib.h>
// #include "native.h"
import "C"

import (
	"os"
	"runtime"
	"strconv"
	"unsafe"
)

// ManualSeed seeds libtorch's CPU generator and, where there is one, every
// CUDA generator. Same seed, same CPU results.
func ManualSeed(seed uint64) { C.selfsup_manual_seed(C.uint64_t(seed)) }

// SetThreads sets the number of intra-op threads libtorch uses.
func SetThreads(n int) { C.selfsup_set_num_threads(C.int(n)) }

// Threads reports the number of intra-op threads libtorch uses.
func Threads() int { return int(C.selfsup_get_num_threads()) }

// GradEnabled reports autograd's grad mode on the calling OS thread. (gotch's
// ts.GradSetEnabled misreads the previous mode, so it cannot be used to save
// and restore it.)
func GradEnabled() bool { return C.selfsup_grad_enabled() != 0 }

// SetGradEnabled sets autograd's grad mode on the calling OS thread; pin the
// goroutine (runtime.LockOSThread) around the work it applies to.
func SetGradEnabled(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.selfsup_set_grad_enabled(v)
}

// CUDADevices reports how many CUDA devices libtorch sees (0 on a CPU build).
func CUDADevices() int { return int(C.selfsup_cuda_device_count()) }

// TorchVersion is the version of the libtorch this binary was compiled against.
func TorchVersion() string { return goString(C.selfsup_torch_version()) }

// TorchConfig is libtorch's own description of its build (compiler, BLAS,
// LAPACK, oneDNN, OpenMP, CUDA), as torch.__config__.show() prints it.
func TorchConfig() string { return goString(C.selfsup_torch_config()) }

func goString(p *C.char) string {
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}

// ConfigureThreads sets libtorch's intra-op threads to n, or when n <= 0 to
// OMP_NUM_THREADS if set, else to the number of CPUs the process may use.
// libtorch itself defaults to the number of physical cores it detects, which
// on some virtual machines is 1 for 2 usable CPUs. It returns the count set.
func ConfigureThreads(n int) int {
	if n <= 0 {
		if v, err := strconv.Atoi(os.Getenv("OMP_NUM_THREADS")); err == nil && v > 0 {
			n = v
		} else {
			n = runtime.NumCPU()
		}
	}
	SetThreads(n)
	return Threads()
}
