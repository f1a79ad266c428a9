package replay

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// frameOf is a 1×2×2 frame whose pixels all hold g mod 251 (a global
// frame number), so a gathered stack says which frames it took.
func frameOf(g int) []uint8 { v := uint8(g % 251); return []uint8{v, v, v, v} }

// fill adds episodes of the given lengths; each frame is numbered in the
// order stored, each transition's reward is its number, and its action
// and state say the frame it starts from. It returns, per transition, the
// frame numbers of its observation's stack and of the next one.
func fill(t *testing.T, b *Buffer, lengths []int) (obs, next [][]int) {
	t.Helper()
	g, tr := 0, 0
	state := func(g int) []float64 {
		if b.cfg.StateDim == 0 {
			return nil
		}
		return []float64{float64(g)}
	}
	for _, n := range lengths {
		if err := b.Start(frameOf(g), state(g)); err != nil {
			t.Fatal(err)
		}
		start := g
		g++
		for range n {
			cur := g - 1
			stack := func(last int) []int {
				var s []int
				for f := range b.cfg.Stack {
					s = append(s, max(last-(b.cfg.Stack-1-f), start))
				}
				return s
			}
			obs, next = append(obs, stack(cur)), append(next, stack(cur+1))
			if err := b.Add([]float64{float64(cur)}, float64(tr), false, frameOf(g), state(g)); err != nil {
				t.Fatal(err)
			}
			g++
			tr++
		}
	}
	return obs, next
}

// TestStacksAtEpisodeBoundaries: an observation stacks the k newest frames
// of its own episode, the first repeated at the start, never a frame of
// the episode before; the next observation is the stack one frame later;
// states are the newest frame's. Episodes of 1, 2 and 5 steps with k = 3.
func TestStacksAtEpisodeBoundaries(t *testing.T) {
	b, err := New(Config{Capacity: 100, Stack: 3, Channels: 1, Height: 2, Width: 2, StateDim: 1, ActionDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	obs, next := fill(t, b, []int{1, 2, 5, 3})
	// transition 3 is the first of the 5-step episode whose reset frame is 5
	if want := [][]int{{5, 5, 5}, {5, 5, 6}, {5, 6, 7}, {6, 7, 8}}; !slices.EqualFunc(obs[3:7], want, slices.Equal) {
		t.Fatalf("the test's own stacks %v, want %v", obs[3:7], want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bt, err := b.Sample(rng, 200, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i := range bt.N {
		tr := int(bt.Reward[i])
		seen[tr] = true
		for f := range 3 {
			if got, want := int(bt.Obs[i*12+f*4]), obs[tr][f]; got != want {
				t.Fatalf("transition %d: obs frame %d is frame %d, want %d (stack %v)", tr, f, got, want, obs[tr])
			}
			if got, want := int(bt.Next[i*12+f*4]), next[tr][f]; got != want {
				t.Fatalf("transition %d: next frame %d is frame %d, want %d (stack %v)", tr, f, got, want, next[tr])
			}
		}
		if cur := obs[tr][2]; bt.State[i] != float32(cur) || bt.NextState[i] != float32(cur+1) || bt.Action[i] != float32(cur) {
			t.Fatalf("transition %d: state %v next %v action %v, want %d, %d, %d", tr, bt.State[i], bt.NextState[i], bt.Action[i], cur, cur+1, cur)
		}
		if bt.NotDone[i] != 1 {
			t.Fatalf("transition %d: not done %v, want 1 (no termination)", tr, bt.NotDone[i])
		}
	}
	if len(seen) != 11 {
		t.Errorf("200 draws saw %d of the 11 transitions", len(seen))
	}
}

// TestEviction: a full buffer holds the newest Capacity transitions, and
// its frame memory stays bounded by them as episodes come and go.
func TestEviction(t *testing.T) {
	const capacity = 600
	b, err := New(Config{Capacity: capacity, Stack: 3, Channels: 1, Height: 2, Width: 2, ActionDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	lengths := make([]int, 60)
	for i := range lengths {
		lengths[i] = 7 + i%13
	}
	obs, _ := fill(t, b, lengths)
	total := len(obs)
	if b.Len() != capacity || b.Added() != int64(total) {
		t.Fatalf("Len %d Added %d, want %d and %d", b.Len(), b.Added(), capacity, total)
	}
	bt, err := b.Sample(rand.New(rand.NewPCG(3, 4)), 2000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range bt.N {
		tr := int(bt.Reward[i])
		if tr < total-capacity {
			t.Fatalf("sampled transition %d, evicted (the newest %d of %d are held)", tr, capacity, total)
		}
		if got, want := int(bt.Obs[i*12]), obs[tr][0]%251; got != want {
			t.Fatalf("transition %d: first frame %d, want %d", tr, got, want)
		}
	}
	// frames: capacity + one reset frame per episode + k + a block
	frames := int64(len(b.pix)) * chunkFrames
	if limit := int64(capacity + capacity/7 + 3 + 2*chunkFrames); frames > limit {
		t.Errorf("%d frames held for %d transitions, want ≤ %d", frames, capacity, limit)
	}
}

// TestMemoryOfTheCURLSetting: 9×100×100 observations (3 stacked RGB
// frames) cost one 30,000-byte frame per transition, not the 180,000 of
// storing observation and next observation whole.
func TestMemoryOfTheCURLSetting(t *testing.T) {
	const n = 3000
	b, err := New(Config{Capacity: n, Stack: 3, Channels: 3, Height: 100, Width: 100, ActionDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]uint8, 3*100*100)
	for ep := 0; b.Len() < n; ep++ {
		if err := b.Start(frame, nil); err != nil {
			t.Fatal(err)
		}
		for range 125 { // cartpole at action repeat 8
			if err := b.Add([]float64{0}, 0, false, frame, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	per := float64(b.Bytes()) / n
	t.Logf("%d transitions of 9×100×100: %.0f bytes each (naive: %d)", n, per, 2*9*100*100)
	if per > 30000*1.12 {
		t.Errorf("%.0f bytes a transition, want about one frame (30,000)", per)
	}
}

// TestCrops: every crop takes the window it says from each frame of the
// stack, the same window for all of them; random windows cover the
// offsets CURL draws ([0, H−S)) and only those; shift repeats the border.
func TestCrops(t *testing.T) {
	const h, w, k = 12, 10, 2
	b, err := New(Config{Capacity: 10, Stack: k, Channels: 2, Height: h, Width: w, ActionDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	// pixel (c, y, x) holds c·h·w + y·w + x, so a cut says where it came from
	pic := func() []uint8 {
		f := make([]uint8, 2*h*w)
		for c := range 2 {
			for y := range h {
				for x := range w {
					f[(c*h+y)*w+x] = uint8(c*h*w + y*w + x)
				}
			}
		}
		return f
	}
	if err := b.Start(pic(), nil); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := b.Add([]float64{0}, 0, false, pic(), nil); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		crop        Crop
		oh, ow      int
		tops, lefts []int // every offset the windows may take (for shift in the frame's coordinates, −pad…pad)
	}{
		{Crop{Mode: Whole}, h, w, []int{0}, []int{0}},
		{Crop{Mode: Center, Size: 6}, 6, 6, []int{3}, []int{2}},
		{Crop{Mode: Random, Size: 8}, 8, 8, []int{0, 1, 2, 3}, []int{0, 1}},
		{Crop{Mode: Random, Size: 10}, 10, 10, []int{0, 1}, []int{0}},
		{Crop{Mode: Shift, Pad: 2}, h, w, []int{-2, -1, 0, 1, 2}, []int{-2, -1, 0, 1, 2}},
	} {
		bt, err := b.Sample(rng, 300, Options{Crop: c.crop, Positives: true})
		if err != nil {
			t.Fatal(err)
		}
		if bt.Height != c.oh || bt.Width != c.ow || bt.Channels != 2*k {
			t.Fatalf("%v: batch of %d×%d×%d, want %d×%d×%d", c.crop.Mode, bt.Channels, bt.Height, bt.Width, 2*k, c.oh, c.ow)
		}
		tops, lefts := map[int]bool{}, map[int]bool{}
		for _, obs := range [][]uint8{bt.Obs, bt.Next, bt.Pos} {
			for i := range bt.N {
				o := obs[i*2*k*c.oh*c.ow : (i+1)*2*k*c.oh*c.ow]
				// the window: where pixel (0, 0) of the first frame came from
				top, left := int(o[0])/w, int(o[0])%w
				if c.crop.Mode == Shift {
					top, left = shiftOffset(o, c.ow, w, c.crop.Pad)
				}
				tops[top], lefts[left] = true, true
				for f := range k {
					for ch := range 2 {
						for y := range c.oh {
							for x := range c.ow {
								sy, sx := top+y, left+x
								if c.crop.Mode == Shift {
									sy, sx = clamp(sy, h), clamp(sx, w)
								}
								want := uint8(ch*h*w + sy*w + sx)
								if got := o[((f*2+ch)*c.oh+y)*c.ow+x]; got != want {
									t.Fatalf("%v: frame %d channel %d pixel (%d, %d) is %d, want %d (window at %d, %d)", c.crop.Mode, f, ch, y, x, got, want, top, left)
								}
							}
						}
					}
				}
			}
		}
		for _, v := range c.tops {
			if !tops[v] {
				t.Errorf("%v: no window at top %d in 900 cuts (saw %v)", c.crop.Mode, v, tops)
			}
		}
		for _, v := range c.lefts {
			if !lefts[v] {
				t.Errorf("%v: no window at left %d in 900 cuts (saw %v)", c.crop.Mode, v, lefts)
			}
		}
		if len(tops) != len(c.tops) || len(lefts) != len(c.lefts) {
			t.Errorf("%v: windows at tops %v and lefts %v, want only %v and %v", c.crop.Mode, tops, lefts, c.tops, c.lefts)
		}
	}
}

// shiftOffset reads the window offset of a shifted cut of the y·w+x
// picture from its pixel (pad, pad), which maps inside the frame for any
// offset in −pad…pad.
func shiftOffset(o []uint8, ow, w, pad int) (int, int) {
	v := int(o[pad*ow+pad])
	return v/w - pad, v%w - pad
}

// TestWriteRead: a buffer written and read back (into a fresh one)
// samples exactly what the original does, and goes on identically.
func TestWriteRead(t *testing.T) {
	cfg := Config{Capacity: 300, Stack: 3, Channels: 1, Height: 2, Width: 2, StateDim: 1, ActionDim: 1}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, a, []int{50, 70, 90, 110, 40})
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadFrom(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Buffer{a, b} { // both go on with the same steps
		for i := range 30 {
			if err := x.Add([]float64{1}, 9, i == 29, frameOf(i), []float64{2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ra, rb := rand.New(rand.NewPCG(5, 5)), rand.New(rand.NewPCG(5, 5))
	sa, err := a.Sample(ra, 500, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Sample(rb, 500, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sa.Obs, sb.Obs) || !slices.Equal(sa.Next, sb.Next) || !slices.Equal(sa.Reward, sb.Reward) || !slices.Equal(sa.NotDone, sb.NotDone) || !slices.Equal(sa.State, sb.State) {
		t.Fatal("the buffer read back samples differently from the one written")
	}
	other, _ := New(Config{Capacity: 300, Stack: 2, Channels: 1, Height: 2, Width: 2, StateDim: 1, ActionDim: 1})
	if _, err := other.ReadFrom(bytes.NewReader(buf.Bytes())); err == nil {
		t.Error("a buffer of another stack read the file without complaint")
	}
}

// TestErrors: misuse is an error that says what to do.
func TestErrors(t *testing.T) {
	if _, err := New(Config{Capacity: 10, Stack: 3, ActionDim: 1}); err == nil {
		t.Error("a buffer of neither pixels nor states was made")
	}
	b, err := New(Config{Capacity: 10, Stack: 3, Channels: 1, Height: 2, Width: 2, ActionDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add([]float64{0}, 0, false, frameOf(0), nil); err == nil {
		t.Error("Add before Start was accepted")
	}
	if _, err := b.Sample(rand.New(rand.NewPCG(1, 1)), 4, Options{}); err == nil {
		t.Error("an empty buffer was sampled")
	}
	if err := b.Start(make([]uint8, 5), nil); err == nil {
		t.Error("a frame of the wrong size was accepted")
	}
	if err := b.Start(frameOf(0), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Add([]float64{0, 1}, 0, false, frameOf(1), nil); err == nil {
		t.Error("an action of the wrong size was accepted")
	}
	if err := b.Add([]float64{0}, 0, true, frameOf(1), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sample(rand.New(rand.NewPCG(1, 1)), 4, Options{Crop: Crop{Mode: Random, Size: 3}}); err == nil {
		t.Error("a crop larger than the frames was accepted")
	}
	bt, err := b.Sample(rand.New(rand.NewPCG(1, 1)), 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bt.NotDone[0] != 0 {
		t.Errorf("a terminated step has not-done %v, want 0", bt.NotDone[0])
	}
}
