package encoder

import (
	"runtime"
	"testing"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestSplitBatchNorm: with S splits, the features of image i are those of
// a plain train-mode pass over the images j ≡ i (mod S) alone (SplitBatch
// Norm's view groups them so), the running mean is the mean over the splits
// of what each split's pass leaves, and gradients reach the weights.
func TestSplitBatchNorm(t *testing.T) {
	runtime.LockOSThread()
	const n, s = 8, 4
	for _, name := range []string{ConvNetS, ResNet18CIFAR} {
		t.Run(name, func(t *testing.T) {
			backend.ManualSeed(5)
			split := newEnc(t, name, 3)
			x := wave(t, n, 3, 16, 16)
			defer x.MustDrop()
			plain, err := split.Copy()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(plain.VarStore().Destroy)
			split.(BatchNormSplitter).SetBatchNormSplits(s)
			got := pooled(t, split, x, true)
			d := int64(len(got)) / n

			rm0 := values(t, plain.VarStore(), firstBN(name)+".running_mean")
			wantMean := make([]float32, len(rm0))
			for j := range int64(s) {
				idx := make([]int64, 0, n/s)
				for i := j; i < n; i += s {
					idx = append(idx, i)
				}
				it, _ := tensor.FromInt64(idx, int64(len(idx)))
				sub := x.MustIndexSelect(0, it, false)
				it.MustDrop()
				fresh, err := plain.Copy() // running stats as before any pass
				if err != nil {
					t.Fatal(err)
				}
				part := pooled(t, fresh, sub, true)
				sub.MustDrop()
				for k, i := range idx {
					if diff := maxAbsDiff(got[i*d:(i+1)*d], part[int64(k)*d:int64(k+1)*d]); diff > 1e-5 {
						t.Fatalf("image %d: split features differ from its split's own pass by %.3g", i, diff)
					}
				}
				for c, v := range values(t, fresh.VarStore(), firstBN(name)+".running_mean") {
					wantMean[c] += v / s
				}
				fresh.VarStore().Destroy()
			}
			gotMean := values(t, split.VarStore(), firstBN(name)+".running_mean")
			if diff := maxAbsDiff(gotMean, wantMean); diff > 1e-6 {
				t.Errorf("running mean differs from the mean over splits by %.3g", diff)
			}
			sgdStep(t, split, x, 0.1)  // backward through the split view
			pooled(t, split, x, false) // eval mode ignores the splits
			bad := wave(t, 6, 3, 16, 16)
			defer bad.MustDrop()
			if _, err := split.Forward(bad, true); err == nil {
				t.Error("a batch of 6 in 4 splits was accepted")
			}
		})
	}
}

func firstBN(name string) string {
	if name == ConvNetS {
		return "1"
	}
	return "bn1"
}
