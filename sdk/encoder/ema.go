package encoder

import (
	"fmt"
	"strings"

	snn "github.com/selfsup/selfsup/sdk/nn"
)

// bufferSuffixes are the buffer names of PyTorch's BatchNorm, the only
// buffers our trunks hold.
func bufferSuffixes() []string {
	return []string{"running_mean", "running_var", "num_batches_tracked"}
}

// IsBuffer reports whether a VarStore (state_dict) name is a buffer
// (BatchNorm running statistics or batch count) rather than a parameter.
func IsBuffer(name string) bool {
	last := name[strings.LastIndex(name, ".")+1:]
	for _, s := range bufferSuffixes() {
		if last == s {
			return true
		}
	}
	return false
}

// EMAUpdate moves target toward online, the momentum (mean-teacher) update
// of BYOL, MoCo, DINO and CURL: every parameter becomes
// t = m·t + (1−m)·o, in place and outside autograd. m is in [0, 1]: 1 leaves
// the parameters as they are, 0 copies them.
//
// Buffers (BatchNorm running mean and variance, num_batches_tracked) are
// copied from online, not averaged: the running statistics are estimates
// for the online weights, which the target tracks, so a target used in eval
// mode (kNN on target features, exporting the target) normalises with
// statistics that fit its weights. MoCo's and lightly's code update the
// parameters only and leave the target its own statistics; with a target
// that runs in train mode, as those methods run it, the two choices give
// the same training features, since train-mode BatchNorm uses batch
// statistics.
func EMAUpdate(target, online Encoder, m float64) error {
	if target.Name() != online.Name() {
		return fmt.Errorf("ema: target is %s but online is %s: make the target with online.Copy()", target.Name(), online.Name())
	}
	if err := snn.EMA(target.VarStore(), online.VarStore(), m, snn.CopyBuffers); err != nil {
		return fmt.Errorf("ema %s: %w (make the target with online.Copy())", online.Name(), err)
	}
	return nil
}
