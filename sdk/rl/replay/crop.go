package replay

import (
	"fmt"
	"math/rand/v2"
)

// CropMode says how Sample cuts the stored frames.
type CropMode uint8

const (
	// Whole keeps the frames as stored.
	Whole CropMode = iota
	// Random cuts a Size×Size window at a random place, the top and left
	// offsets uniform in [0, H−Size) as CURL's random_crop draws them
	// (np.random.randint(0, crop_max)).
	Random
	// Center cuts the Size×Size window in the middle, top (H−Size)/2 (the
	// crop CURL acts and evaluates with).
	Center
	// Shift pads the frames by Pad pixels, repeating the border, and cuts
	// a window of the frames' own size at a random place (offsets uniform
	// in [0, 2·Pad]): DrQ's and RAD's random shift.
	Shift
)

// String names the mode as the command-line flags do.
func (m CropMode) String() string {
	switch m {
	case Whole:
		return "whole"
	case Random:
		return "crop"
	case Center:
		return "center"
	case Shift:
		return "shift"
	}
	return fmt.Sprintf("CropMode(%d)", uint8(m))
}

// Crop is how Sample cuts the frames of an observation. The same window
// cuts every frame of a stack.
type Crop struct {
	Mode CropMode
	// Size is the side of the window of Random and Center.
	Size int
	// Pad is Shift's padding (DrQ: 4).
	Pad int
}

// out is the side of the cut frames of an h×w frame.
func (c Crop) out(h, w int) (int, int) {
	switch c.Mode {
	case Random, Center:
		return c.Size, c.Size
	}
	return h, w
}

// check says whether c can cut h×w frames.
func (c Crop) check(h, w int) error {
	switch c.Mode {
	case Whole:
		return nil
	case Random, Center:
		if c.Size < 1 || c.Size > h || c.Size > w {
			return fmt.Errorf("replay: %s crop of %d pixels from %d×%d frames: want 1 ≤ size ≤ the frames' side", c.Mode, c.Size, h, w)
		}
		return nil
	case Shift:
		if c.Pad < 0 {
			return fmt.Errorf("replay: shift with padding %d: want ≥ 0", c.Pad)
		}
		return nil
	}
	return fmt.Errorf("replay: unknown crop mode %d", c.Mode)
}

// window draws the top-left corner of one cut, in the coordinates of the
// padded frame for Shift. It draws from rng only for Random and Shift.
func (c Crop) window(rng *rand.Rand, h, w int) (top, left int) {
	switch c.Mode {
	case Random:
		return randBelow(rng, h-c.Size), randBelow(rng, w-c.Size)
	case Center:
		return (h - c.Size) / 2, (w - c.Size) / 2
	case Shift:
		return rng.IntN(2*c.Pad + 1), rng.IntN(2*c.Pad + 1)
	}
	return 0, 0
}

// randBelow is uniform in [0, n), and 0 when n is 0 (a crop of the whole
// side).
func randBelow(rng *rand.Rand, n int) int {
	if n <= 0 {
		return 0
	}
	return rng.IntN(n)
}

// cut copies the window at (top, left) of the c×h×w frame src into dst
// (c×oh×ow). For Shift, rows and columns outside the frame repeat its
// border.
func (c Crop) cut(dst, src []uint8, ch, h, w, top, left int) {
	oh, ow := c.out(h, w)
	if c.Mode != Shift {
		for k := range ch {
			for i := range oh {
				s := src[(k*h+top+i)*w+left:]
				copy(dst[(k*oh+i)*ow:(k*oh+i+1)*ow], s[:ow])
			}
		}
		return
	}
	for k := range ch {
		for i := range oh {
			y := clamp(top+i-c.Pad, h)
			row := src[(k*h+y)*w : (k*h+y+1)*w]
			d := dst[(k*oh+i)*ow : (k*oh+i+1)*ow]
			for j := range ow {
				d[j] = row[clamp(left+j-c.Pad, w)]
			}
		}
	}
}

func clamp(x, n int) int { return min(max(x, 0), n-1) }
