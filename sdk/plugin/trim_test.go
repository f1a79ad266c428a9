package plugin

import "testing"

// TestTrimmer: a serving process trims the C heap only when it has grown
// to twice the most it held over the window after the last trim (and is
// above the floor), then measures its window again.
func TestTrimmer(t *testing.T) {
	const g = int64(1) << 30
	var rss int64
	var trims []int
	tr := &trimmer{rss: func() int64 { return rss }}
	step := 0
	tr.trim = func() bool { trims = append(trims, step); rss = g / 2; return true }
	feed := func(n int, v int64) {
		for range n {
			step++
			rss = v
			tr.maybe()
		}
	}
	feed(trimWindow, 2*g)   // window: base 2 GiB
	feed(50, 3*g)           // grown, but not doubled
	feed(1, 4*g)            // doubled: trim (step 71)
	feed(trimWindow, g)     // new window: base 1 GiB
	feed(1, 2*g)            // doubled again: trim (step 92)
	feed(trimWindow+5, g/4) // small: below the floor, never
	if want := []int{71, 92}; len(trims) != 2 || trims[0] != want[0] || trims[1] != want[1] {
		t.Errorf("trimmed at steps %v, want %v", trims, want)
	}
}
