package augment

import (
	"slices"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
)

// TestGridCutPlacesPatches: with no patch recipe, patch (n, i, j) of the
// cut is exactly the view's pixels [i·stride, i·stride + patch) ×
// [j·stride, j·stride + patch) of image n, for overlapping and touching
// grids.
func TestGridCutPlacesPatches(t *testing.T) {
	cases := []struct{ size, patch, stride, side int }{
		{12, 4, 2, 5}, // overlapping, CPC's half-patch stride
		{12, 4, 4, 3}, // touching
		{32, 8, 4, 7}, // the cpcv2 recipe's grid
	}
	for _, c := range cases {
		const n, ch = 2, 3
		x := randomU8(t, 7, n, ch, c.size, c.size)
		p, err := New(ViewRecipe{Name: "g", Recipe: Recipe{Size: c.size}, Grid: &GridCut{Patch: c.patch, Stride: c.stride}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Augment(t.Context(), Request{Images: x, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Views[0]
		if v.Grid != c.side || v.Boxes != nil {
			t.Fatalf("%+v: grid %d (boxes %v), want %d and no boxes", c, v.Grid, v.Boxes, c.side)
		}
		if got, want := v.Images.MustSize(), []int64{int64(n * c.side * c.side), ch, int64(c.patch), int64(c.patch)}; !slices.Equal(got, want) {
			t.Fatalf("%+v: patches %v, want %v", c, got, want)
		}
		img, got := values(t, x), values(t, v.Images)
		s, q := c.size, c.patch
		for b := range n {
			for i := range c.side {
				for j := range c.side {
					for k := range ch {
						for y := range q {
							for z := range q {
								want := img[((b*ch+k)*s+i*c.stride+y)*s+j*c.stride+z] / 255
								at := ((((b*c.side+i)*c.side+j)*ch+k)*q+y)*q + z
								if got[at] != want {
									t.Fatalf("%+v: patch (%d,%d,%d) channel %d pixel (%d,%d) = %v, want %v", c, b, i, j, k, y, z, got[at], want)
								}
							}
						}
					}
				}
			}
		}
		res.Drop()
		x.MustDrop()
	}
}

// TestGridPatchRecipe: the per-patch recipe draws for every patch on its
// own (patches of a flat image come out different), is deterministic, and
// leaves the view's own draws alone.
func TestGridPatchRecipe(t *testing.T) {
	flat := make([]float32, 2*1*16*16)
	for i := range flat {
		flat[i] = 0.5
	}
	x := f32(t, flat, 2, 1, 16, 16)
	defer x.MustDrop()
	patch := Recipe{Jitter: &Jitter{P: 1, Brightness: 0.4}}
	p, err := New(ViewRecipe{Name: "g", Recipe: Recipe{Size: 16}, Grid: &GridCut{Patch: 8, Stride: 4, PatchRecipe: &patch}})
	if err != nil {
		t.Fatal(err)
	}
	run := func() []float32 {
		res, err := p.Augment(t.Context(), Request{Images: x, Seed: 3, Step: 5})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Drop()
		return values(t, res.Views[0].Images)
	}
	a, b := run(), run()
	if maxDiff(a, b) != 0 {
		t.Fatal("the same request gave different patches")
	}
	const per = 8 * 8
	distinct := map[float32]bool{}
	for k := 0; k < len(a)/per; k++ {
		for i := 1; i < per; i++ {
			if a[k*per+i] != a[k*per] {
				t.Fatalf("patch %d is not flat: brightness jitter must scale a patch as a whole", k)
			}
		}
		distinct[a[k*per]] = true
	}
	if len(distinct) < 10 {
		t.Errorf("18 patches got %d distinct brightness factors; want one draw per patch", len(distinct))
	}
}

func TestGridErrors(t *testing.T) {
	norm := &Normalize{Mean: []float64{0.5}, Std: []float64{0.5}}
	cases := []struct {
		name string
		v    ViewRecipe
		want string
	}{
		{"does not tile", ViewRecipe{Name: "g", Recipe: Recipe{Size: 13}, Grid: &GridCut{Patch: 4, Stride: 2}}, "do not tile"},
		{"one patch", ViewRecipe{Name: "g", Recipe: Recipe{Size: 8}, Grid: &GridCut{Patch: 8, Stride: 4}}, "at least 2×2"},
		{"no size", ViewRecipe{Name: "g", Recipe: Recipe{}, Grid: &GridCut{Patch: 4, Stride: 2}}, "size"},
		{"normalise twice", ViewRecipe{Name: "g", Recipe: Recipe{Size: 12, Normalize: norm}, Grid: &GridCut{Patch: 4, Stride: 4, PatchRecipe: &Recipe{Normalize: norm}}}, "normalis"},
		{"patch crop", ViewRecipe{Name: "g", Recipe: Recipe{Size: 12}, Grid: &GridCut{Patch: 4, Stride: 4, PatchRecipe: &Recipe{Size: 4, Crop: &Crop{}}}}, "keep"},
	}
	for _, c := range cases {
		_, err := New(c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// TestGridFromSpec builds the cpcv2 views from a method's Spec: the image
// recipe at the view's size, the patch recipe at the patch's.
func TestGridFromSpec(t *testing.T) {
	spec := method.Spec{Name: "cpc", Views: []method.View{{Name: "v1", Recipe: "cpcv2", Size: 32, Online: true, Grid: &method.Grid{Patch: 8, Stride: 4, PatchRecipe: "cpcv2-patch"}}}}
	p, err := FromSpec(spec, SpecOptions{Size: 28, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := p.Views()[0]
	if v.Recipe.Size != 32 || v.Grid == nil || v.Grid.PatchRecipe == nil || v.Grid.PatchRecipe.Size != 8 || v.Grid.PatchRecipe.Normalize == nil {
		t.Fatalf("view %+v grid %+v: want a 32-pixel view cut into 8-pixel patches that the patch recipe normalises", v.Recipe, v.Grid)
	}
	x := randomU8(t, 1, 4, 1, 28, 28)
	defer x.MustDrop()
	res, err := p.Augment(t.Context(), Request{Images: x, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Drop()
	if got := res.Views[0].Images.MustSize(); !slices.Equal(got, []int64{4 * 49, 1, 8, 8}) || res.Views[0].Grid != 7 {
		t.Fatalf("patches %v grid %d, want [196 1 8 8] and 7", got, res.Views[0].Grid)
	}
}
