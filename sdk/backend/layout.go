package backend

// #include <stdlib.h>
// #include "layout.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// ChannelsLast returns x (4-d) with the same values in channels-last
// (NHWC) memory order, recorded by autograd like a copy. Convolutions of a
// channels-last input give channels-last outputs, so converting a conv
// stack's input once keeps the whole stack in the layout oneDNN computes in
// (no reorder before and after every layer). The caller owns the result.
func ChannelsLast(x *ts.Tensor) (*ts.Tensor, error) {
	var out unsafe.Pointer
	msg := C.selfsup_channels_last(x.Ctensor(), &out)
	runtime.KeepAlive(x)
	if err := check("channels-last", msg); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	return ts.New(lib.Ctensor(out)), nil
}
