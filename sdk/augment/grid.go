package augment

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/method"
)

// GridCut cuts a view into a grid of overlapping square patches after its
// recipe (CPC's patch grid): Patch×Patch squares every Stride pixels
// across and down, G = (S − Patch)/Stride + 1 per side of an S×S view.
// The view's Images become [N·G·G, C, Patch, Patch], image-major and then
// row-major (patch (n, i, j) is row n·G·G + i·G + j); its Boxes are
// dropped and its Grid is G.
type GridCut struct {
	Patch, Stride int
	// PatchRecipe, when set, is applied to every patch on its own after
	// the cut (CPC v2's per-patch augmentation). It must keep the patch's
	// size and then does the normalisation, so the view's own recipe must
	// leave pixels in [0, 1] (no Normalize).
	PatchRecipe *Recipe
}

// patchStream offsets a view's index to the random stream of its per-patch
// recipe, so adding a patch recipe leaves the view's own draws unchanged.
const patchStream = 1 << 20

// clone returns a deep copy (nil for nil).
func (g *GridCut) clone() *GridCut {
	if g == nil {
		return nil
	}
	c := *g
	if g.PatchRecipe != nil {
		r := g.PatchRecipe.Clone()
		c.PatchRecipe = &r
	}
	return &c
}

// side is G for a view of side s, or 0 when the grid does not tile it.
func (g GridCut) side(s int) int { return method.Grid{Patch: g.Patch, Stride: g.Stride}.Side(s) }

// check reports whether the cut fits the view recipe r.
func (g GridCut) check(r Recipe, channels int) error {
	if r.Size <= 0 {
		return fmt.Errorf("a grid view needs its recipe's size")
	}
	if g.side(r.Size) < 2 {
		return fmt.Errorf("patches of %d every %d pixels do not tile a %d-pixel view in a grid of at least 2×2; want (size − patch) a multiple of stride", g.Patch, g.Stride, r.Size)
	}
	if p := g.PatchRecipe; p != nil {
		if r.Normalize != nil {
			return fmt.Errorf("recipe %s normalises before the per-patch recipe %s: move the normalisation into the patch recipe", r.Name, p.Name)
		}
		if (p.Size != 0 && p.Size != g.Patch) || p.Crop != nil {
			return fmt.Errorf("patch recipe %s crops or resizes (size %d); per-patch recipes keep the %d-pixel patch", p.Name, p.Size, g.Patch)
		}
		if err := p.Validate(channels); err != nil {
			return fmt.Errorf("patch recipe %s: %w", p.Name, err)
		}
	}
	return nil
}

// cut replaces v's images by their patches (and augments each patch when
// there is a patch recipe, drawing from g).
func (c GridCut) cut(v View, g *rng, dev gotch.Device) View {
	size := v.Images.MustSize() // N, C, S, S
	n, ch, s := size[0], size[1], size[2]
	side := int64(c.side(int(s)))
	p, st := int64(c.Patch), int64(c.Stride)
	a := newArena(dev)
	defer a.close()
	rows := a.t(v.Images.MustUnfold(2, p, st, false))                // N, C, G, S, P
	cells := a.t(rows.MustUnfold(3, p, st, false))                   // N, C, G, G, P, P
	perm := a.t(cells.MustPermute([]int64{0, 2, 3, 1, 4, 5}, false)) // N, G, G, C, P, P
	patches := a.t(perm.MustReshape([]int64{n * side * side, ch, p, p}, false))
	v.Images.MustDrop()
	if v.Boxes != nil {
		v.Boxes.MustDrop()
		v.Boxes = nil
	}
	v.Grid = int(side)
	if c.PatchRecipe == nil {
		v.Images = patches.MustContiguous(false)
		return v
	}
	in := imageShape{n: int(n * side * side), c: int(ch), h: int(p), w: int(p)}
	pv := c.PatchRecipe.apply(v.Name, patches, in, g, dev)
	pv.Boxes.MustDrop()
	for _, l := range pv.Labels {
		l.MustDrop()
	}
	v.Images = pv.Images
	return v
}
