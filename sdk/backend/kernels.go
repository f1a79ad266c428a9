package backend

// #include <stdlib.h>
// #include "kernels.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// handles copies the tensors' native handles (C pointers) into a C array
// for one call; the returned func frees it.
func handles(xs []*ts.Tensor) (unsafe.Pointer, func()) {
	if len(xs) == 0 {
		return nil, func() {}
	}
	p := C.malloc(C.size_t(len(xs)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	arr := unsafe.Slice((*unsafe.Pointer)(p), len(xs))
	for i, x := range xs {
		arr[i] = x.Ctensor()
	}
	return p, func() { C.free(p) }
}

func flags(b []bool) (*C.uint8_t, func()) {
	if len(b) == 0 {
		return nil, func() {}
	}
	p := C.malloc(C.size_t(len(b)))
	arr := unsafe.Slice((*uint8)(p), len(b))
	for i, v := range b {
		arr[i] = 0
		if v {
			arr[i] = 1
		}
	}
	return (*C.uint8_t)(p), func() { C.free(p) }
}

func check(what string, msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return fmt.Errorf("%s: %s", what, C.GoString(msg))
}

func sameLen(n int, lists ...int) error {
	for _, l := range lists {
		if l != n {
			return errors.New("backend: tensor lists of different lengths")
		}
	}
	return nil
}

// AdamStep applies one step of PyTorch's Adam (decoupled: AdamW) to params
// from their .grad, updating the moment tensors in place. step is 1-based.
// Parameters without a gradient are skipped; noDecay marks those excluded
// from weight decay.
func AdamStep(params, expAvg, expAvgSq []*ts.Tensor, noDecay []bool, lr, beta1, beta2, eps, wd float64, decoupled bool, step int64) error {
	if err := sameLen(len(params), len(expAvg), len(expAvgSq), len(noDecay)); err != nil {
		return err
	}
	p, f1 := handles(params)
	defer f1()
	m, f2 := handles(expAvg)
	defer f2()
	v, f3 := handles(expAvgSq)
	defer f3()
	nd, f4 := flags(noDecay)
	defer f4()
	dec := C.int(0)
	if decoupled {
		dec = 1
	}
	defer runtime.KeepAlive(params)
	defer runtime.KeepAlive(expAvg)
	defer runtime.KeepAlive(expAvgSq)
	return check("adam step", C.selfsup_adam_step((*unsafe.Pointer)(p), (*unsafe.Pointer)(m), (*unsafe.Pointer)(v), nd, C.int(len(params)),
		C.double(lr), C.double(beta1), C.double(beta2), C.double(eps), C.double(wd), dec, C.int64_t(step)))
}

// SGDStep applies one step of PyTorch's SGD (dampening 0) with momentum
// buffers bufs (ignored when momentum is 0), optionally Nesterov, and with
// lars the LARS trust ratio eta·‖p‖/‖g‖ on parameters not in noDecay. first
// is true on the first step (buffers start as the gradient).
func SGDStep(params, bufs []*ts.Tensor, noDecay []bool, lr, momentum, wd float64, nesterov, lars bool, eta float64, first bool) error {
	if err := sameLen(len(params), len(bufs), len(noDecay)); err != nil {
		return err
	}
	p, f1 := handles(params)
	defer f1()
	b, f2 := handles(bufs)
	defer f2()
	nd, f3 := flags(noDecay)
	defer f3()
	bi := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	defer runtime.KeepAlive(params)
	defer runtime.KeepAlive(bufs)
	return check("sgd step", C.selfsup_sgd_step((*unsafe.Pointer)(p), (*unsafe.Pointer)(b), nd, C.int(len(params)),
		C.double(lr), C.double(momentum), C.double(wd), bi(nesterov), bi(lars), C.double(eta), bi(first)))
}

// EMA updates target = m·target + (1−m)·online in place for every pair
// (integer tensors are copied), without recording gradients.
func EMA(target, online []*ts.Tensor, m float64) error {
	if err := sameLen(len(target), len(online)); err != nil {
		return err
	}
	t, f1 := handles(target)
	defer f1()
	o, f2 := handles(online)
	defer f2()
	defer runtime.KeepAlive(target)
	defer runtime.KeepAlive(online)
	return check("ema", C.selfsup_ema((*unsafe.Pointer)(t), (*unsafe.Pointer)(o), C.int(len(target)), C.double(m)))
}

// Copy copies src[i] into dst[i] in place, without recording gradients.
func Copy(dst, src []*ts.Tensor) error {
	if err := sameLen(len(dst), len(src)); err != nil {
		return err
	}
	d, f1 := handles(dst)
	defer f1()
	s, f2 := handles(src)
	defer f2()
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	return check("copy", C.selfsup_copy((*unsafe.Pointer)(d), (*unsafe.Pointer)(s), C.int(len(dst))))
}

// ZeroGrad zeroes the .grad of every tensor that has one.
func ZeroGrad(params []*ts.Tensor) error {
	p, f := handles(params)
	defer f()
	defer runtime.KeepAlive(params)
	return check("zero grad", C.selfsup_zero_grad((*unsafe.Pointer)(p), C.int(len(params))))
}

// ClipGradPerParam clips the .grad of every tensor that has one to L2 norm
// clip, each on its own (DINO's utils.clip_gradients: the gradient is
// multiplied by clip/(‖g‖+1e-6) when that is below 1), in place. It returns
// every tensor's gradient norm before clipping, and whether it had a
// gradient (the norm is 0 where not).
func ClipGradPerParam(params []*ts.Tensor, clip float64) (norms []float64, hasGrad []bool, err error) {
	if len(params) == 0 {
		return nil, nil, nil
	}
	p, f := handles(params)
	defer f()
	norms = make([]float64, len(params))
	has := make([]uint8, len(params))
	defer runtime.KeepAlive(params)
	if err := check("clip grad", C.selfsup_clip_grad((*unsafe.Pointer)(p), C.int(len(params)), C.double(clip),
		(*C.double)(unsafe.Pointer(&norms[0])), (*C.uint8_t)(unsafe.Pointer(&has[0])))); err != nil {
		return nil, nil, err
	}
	hasGrad = make([]bool, len(params))
	for i, h := range has {
		hasGrad[i] = h != 0
	}
	return norms, hasGrad, nil
}
