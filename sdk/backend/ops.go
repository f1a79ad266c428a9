package backend

// #include <stdlib.h>
// #include "ops.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// LeakyReLU is F.leaky_relu(x, slope), recorded by autograd (gotch's
// binding fixes the slope at 0.01). The caller owns the result.
func LeakyReLU(x *ts.Tensor, slope float64) (*ts.Tensor, error) {
	var out unsafe.Pointer
	msg := C.selfsup_leaky_relu(x.Ctensor(), C.double(slope), &out)
	runtime.KeepAlive(x)
	if err := check("leaky_relu", msg); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	return ts.New(lib.Ctensor(out)), nil
}

// InstanceNorm is nn.InstanceNorm2d(affine=False, track_running_stats=False)
// on x [N, C, H, W]: each map of each sample normalised by its own mean and
// biased variance, (x − μ)/√(σ² + eps); recorded by autograd. The caller
// owns the result.
func InstanceNorm(x *ts.Tensor, eps float64) (*ts.Tensor, error) {
	var out unsafe.Pointer
	msg := C.selfsup_instance_norm(x.Ctensor(), C.double(eps), &out)
	runtime.KeepAlive(x)
	if err := check("instance_norm", msg); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	return ts.New(lib.Ctensor(out)), nil
}
