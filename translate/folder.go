package translate

import (
	"fmt"
	"image"
	_ "image/jpeg" // JPEG folders
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/draw"
)

// Folder is an image folder (PNG or JPEG files, in name order), one domain
// of an unpaired set (trainA, trainB, ...).
type Folder struct {
	Dir   string
	Paths []string
}

// OpenFolder lists dir's images.
func OpenFolder(dir string) (*Folder, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("translate: image folder: %w", err)
	}
	f := &Folder{Dir: dir}
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			f.Paths = append(f.Paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(f.Paths) == 0 {
		return nil, fmt.Errorf("translate: %s holds no PNG or JPEG image", dir)
	}
	slices.Sort(f.Paths)
	return f, nil
}

// LoadImage decodes an image file.
func LoadImage(path string) (image.Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("translate: decode %s: %w", path, err)
	}
	return img, nil
}

// Preprocess is the official 'resize_and_crop' transform: resize to
// Load×Load (bicubic), a random Crop×Crop window, a horizontal flip half
// the time unless NoFlip, then values scaled to [−1, 1].
type Preprocess struct {
	Load, Crop int
	NoFlip     bool
}

// Apply transforms img into CHW RGB floats in [−1, 1], its randomness
// from rng (nil: the centre crop, no flip, as for evaluation).
func (p Preprocess) Apply(img image.Image, rng *rand.Rand) []float32 {
	load := image.NewRGBA(image.Rect(0, 0, p.Load, p.Load))
	draw.CatmullRom.Scale(load, load.Bounds(), img, img.Bounds(), draw.Src, nil)
	x0, y0, flip := (p.Load-p.Crop)/2, (p.Load-p.Crop)/2, false
	if rng != nil {
		x0, y0 = rng.IntN(p.Load-p.Crop+1), rng.IntN(p.Load-p.Crop+1)
		flip = !p.NoFlip && rng.Float64() < 0.5
	}
	out := make([]float32, 3*p.Crop*p.Crop)
	plane := p.Crop * p.Crop
	for y := range p.Crop {
		for x := range p.Crop {
			sx := x
			if flip {
				sx = p.Crop - 1 - x
			}
			o := load.PixOffset(x0+sx, y0+y)
			for c := range 3 {
				out[c*plane+y*p.Crop+x] = float32(load.Pix[o+c])/127.5 - 1
			}
		}
	}
	return out
}

// ToImage turns CHW floats in [−1, 1] of side size back into an image.
func ToImage(v []float32, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	plane := size * size
	for i := range plane {
		for c := range 3 {
			x := (v[c*plane+i] + 1) * 127.5
			img.Pix[4*i+c] = uint8(min(255, max(0, x+0.5)))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

// Unaligned draws CUT's training pairs (UnalignedDataset with shuffling):
// an epoch visits max(|A|, |B|) indices in random order, index i giving
// A[i mod |A|], and each A gets a B drawn uniformly at random.
type Unaligned struct {
	A, B   *Folder
	Pre    Preprocess
	rng    *rand.Rand
	rngSrc *rand.PCG
	order  []int
	pos    int
}

// UnalignedState is where an Unaligned is in its epoch and stream.
type UnalignedState struct {
	Order []int  `json:"order"`
	Pos   int    `json:"pos"`
	RNG   []byte `json:"rng"`
}

// State returns the sampler's position.
func (u *Unaligned) State() (UnalignedState, error) {
	b, err := u.rngSrc.MarshalBinary()
	return UnalignedState{Order: slices.Clone(u.order), Pos: u.pos, RNG: b}, err
}

// SetState puts the sampler back where State found it.
func (u *Unaligned) SetState(st UnalignedState) error {
	if st.Pos > len(st.Order) || (len(st.Order) != 0 && len(st.Order) != u.Len()) {
		return fmt.Errorf("translate: the saved sampler visits %d images, this set has %d: resume on the same folders", len(st.Order), u.Len())
	}
	u.order, u.pos = slices.Clone(st.Order), st.Pos
	return u.rngSrc.UnmarshalBinary(st.RNG)
}

// NewUnaligned pairs a and b with randomness from seed.
func NewUnaligned(a, b *Folder, pre Preprocess, seed uint64) (*Unaligned, error) {
	if pre.Crop <= 0 || pre.Load < pre.Crop {
		return nil, fmt.Errorf("translate: load %d, crop %d: want 0 < crop ≤ load", pre.Load, pre.Crop)
	}
	src := rand.NewPCG(seed, 0x1ab)
	return &Unaligned{A: a, B: b, Pre: pre, rng: rand.New(src), rngSrc: src}, nil
}

// Len is the epoch's length, max(|A|, |B|).
func (u *Unaligned) Len() int { return max(len(u.A.Paths), len(u.B.Paths)) }

// Next returns n pairs' images, A's and B's, each n×3×Crop×Crop floats.
// finetune resizes straight to Crop, no random crop (UnalignedDataset
// does so once the epoch passes n_epochs: the lr's decay phase).
func (u *Unaligned) Next(n int, finetune bool) (a, b []float32, err error) {
	pre := u.Pre
	if finetune {
		pre.Load = pre.Crop
	}
	for range n {
		if u.pos == len(u.order) {
			u.order, u.pos = u.rng.Perm(u.Len()), 0
		}
		i := u.order[u.pos]
		u.pos++
		for _, side := range []struct {
			path string
			dst  *[]float32
		}{{u.A.Paths[i%len(u.A.Paths)], &a}, {u.B.Paths[u.rng.IntN(len(u.B.Paths))], &b}} {
			img, err := LoadImage(side.path)
			if err != nil {
				return nil, nil, err
			}
			*side.dst = append(*side.dst, pre.Apply(img, u.rng)...)
		}
	}
	return a, b, nil
}

// savePNGFile writes img as a PNG.
func savePNGFile(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
