package envs

import (
	"fmt"
	"testing"

	"github.com/selfsup/selfsup/envs/render"
)

// BenchmarkFrames measures pixel-observation steps per second (physics,
// reward and rendering) for every task, style and size. frames/s is the
// metric to compare with the 10,000 frames/s per core target at 84x84.
func BenchmarkFrames(b *testing.B) {
	for _, id := range List() {
		for _, st := range render.Styles() {
			for _, size := range []int{84, 100} {
				b.Run(fmt.Sprintf("%s/%s/%d", id, st, size), func(b *testing.B) {
					e, err := Make(id, WithPixels(size, size), WithState(false), WithStyle(st), WithMaxEpisodeSteps(0))
					if err != nil {
						b.Fatal(err)
					}
					seed := int64(1)
					e.Reset(&seed)
					act := make([]float64, e.ActionSpace().Size())
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						act[0] = float64(i%7)/3 - 1
						e.Step(act)
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
				})
			}
		}
	}
}

// BenchmarkPhysics measures state-only steps per second (physics and
// reward, no rendering), the speed a state-SAC baseline sees.
func BenchmarkPhysics(b *testing.B) {
	for _, id := range List() {
		b.Run(id, func(b *testing.B) {
			e, err := Make(id, WithMaxEpisodeSteps(0))
			if err != nil {
				b.Fatal(err)
			}
			seed := int64(1)
			e.Reset(&seed)
			act := make([]float64, e.ActionSpace().Size())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				act[0] = float64(i%7)/3 - 1
				e.Step(act)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
