package augment

import (
	"context"
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
)

// Augmenter turns a batch of images into augmented views. Implementations
// are deterministic: the same Request gives the same Result (bit for bit
// on the CPU).
type Augmenter interface {
	// Augment makes the views of req.Images. The caller owns the Result's
	// tensors and frees them with Result.Drop.
	Augment(ctx context.Context, req Request) (Result, error)
}

// Request is one batch to augment.
type Request struct {
	// Images is [N, C, H, W]: uint8 in 0..255, or float in [0, 1]. It is
	// not changed, and the views are made on its device.
	Images *ts.Tensor
	// Seed and Step pick the random draws: a run's seed and the training
	// step, say. Each view draws from its own stream of (Seed, Step), so
	// a host that resumes at a step gets the views it would have had.
	Seed, Step uint64
}

// Result holds the views of one batch, in the augmenter's view order.
type Result struct {
	Views []View
}

// View is one augmented view of every image of a batch.
type View struct {
	// Name keys the view ("v1", "global1", ...).
	Name string
	// Images is [N, C, S, S] float32, normalised when the recipe says so.
	Images *ts.Tensor
	// Boxes is [N, 4] float32: the crop of each image in the input's pixel
	// coordinates, x0, y0, x1, y1, with (0, 0) the top-left corner of the
	// top-left pixel and x1, y1 exclusive. The view's left edge maps to x0
	// and its right edge to x1, so a flipped view has x0 > x1. Rotation is
	// not reflected here (see the "rotation" label).
	Boxes *ts.Tensor
	// Labels are pseudo-labels by name, int64 [N] ("rotation": the number
	// of 90° counter-clockwise turns).
	Labels map[string]*ts.Tensor
	// Grid is G for a view cut into a G×G grid of patches (see GridCut):
	// Images then holds N·G·G patches and Boxes is nil. 0 otherwise.
	Grid int
}

// Drop frees the view's tensors.
func (v View) Drop() {
	for _, t := range []*ts.Tensor{v.Images, v.Boxes} {
		if t != nil {
			t.MustDrop()
		}
	}
	for _, t := range v.Labels {
		t.MustDrop()
	}
}

// Drop frees every view's tensors.
func (r Result) Drop() {
	for _, v := range r.Views {
		v.Drop()
	}
}

// View returns the view called name.
func (r Result) View(name string) (View, bool) {
	for _, v := range r.Views {
		if v.Name == name {
			return v, true
		}
	}
	return View{}, false
}

// ViewRecipe names one view and the recipe that makes it.
type ViewRecipe struct {
	Name   string
	Recipe Recipe
	// Grid, when set, cuts the view into patches after Recipe.
	Grid *GridCut
}

// Pipeline is an Augmenter that makes one view per ViewRecipe. It holds no
// mutable state, so one Pipeline may serve several goroutines.
type Pipeline struct {
	views []ViewRecipe
}

// New returns a Pipeline of the given views, in order.
func New(views ...ViewRecipe) (*Pipeline, error) {
	if len(views) == 0 {
		return nil, fmt.Errorf("augment: a pipeline needs at least one view")
	}
	seen := map[string]bool{}
	p := &Pipeline{}
	for _, v := range views {
		if v.Name == "" {
			return nil, fmt.Errorf("augment: a view with recipe %q has no name; name every view", v.Recipe.Name)
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("augment: view %q appears twice; give each view its own name", v.Name)
		}
		seen[v.Name] = true
		if err := v.Recipe.Validate(0); err != nil {
			return nil, fmt.Errorf("augment: view %s: %w", v.Name, err)
		}
		var grid *GridCut
		if v.Grid != nil {
			if err := v.Grid.check(v.Recipe, 0); err != nil {
				return nil, fmt.Errorf("augment: view %s: %w", v.Name, err)
			}
			grid = v.Grid.clone()
		}
		p.views = append(p.views, ViewRecipe{Name: v.Name, Recipe: v.Recipe.Clone(), Grid: grid})
	}
	return p, nil
}

// SpecOptions says how FromSpec finds recipes.
type SpecOptions struct {
	// Size and Channels describe the data's images (side and channels).
	Size, Channels int
	// Recipes, when it has a recipe of a view's name, is used instead of
	// the built-in one (recipes loaded from YAML, say).
	Recipes map[string]Recipe
}

// FromSpec builds the pipeline of a method's views: each view's recipe by
// name (opts.Recipes first, then Builtin for the data's size and
// channels), with the view's Size, when set, overriding the recipe's.
func FromSpec(spec method.Spec, opts SpecOptions) (*Pipeline, error) {
	var views []ViewRecipe
	for _, v := range spec.Views {
		r, err := recipeFor(v.Recipe, opts.Size, opts)
		if err != nil {
			return nil, fmt.Errorf("augment: method %s, view %s: %w", spec.Name, v.Name, err)
		}
		if v.Size > 0 {
			r.Size = v.Size
		}
		if err := r.Validate(opts.Channels); err != nil {
			return nil, fmt.Errorf("augment: method %s, view %s: %w", spec.Name, v.Name, err)
		}
		vr := ViewRecipe{Name: v.Name, Recipe: r}
		if g := v.Grid; g != nil {
			vr.Grid = &GridCut{Patch: g.Patch, Stride: g.Stride}
			if g.PatchRecipe != "" {
				pr, err := recipeFor(g.PatchRecipe, g.Patch, opts)
				if err != nil {
					return nil, fmt.Errorf("augment: method %s, view %s, patches: %w", spec.Name, v.Name, err)
				}
				vr.Grid.PatchRecipe = &pr
			}
			if err := vr.Grid.check(r, opts.Channels); err != nil {
				return nil, fmt.Errorf("augment: method %s, view %s: %w", spec.Name, v.Name, err)
			}
		}
		views = append(views, vr)
	}
	return New(views...)
}

// recipeFor is the recipe called name: opts.Recipes' first, else the
// built-in one for images of side size.
func recipeFor(name string, size int, opts SpecOptions) (Recipe, error) {
	if r, ok := opts.Recipes[name]; ok {
		return r.Clone(), nil
	}
	return Builtin(name, size, opts.Channels)
}

// Views returns the pipeline's views (copies, safe to edit).
func (p *Pipeline) Views() []ViewRecipe {
	out := make([]ViewRecipe, len(p.views))
	for i, v := range p.views {
		out[i] = ViewRecipe{Name: v.Name, Recipe: v.Recipe.Clone(), Grid: v.Grid.clone()}
	}
	return out
}

// Augment implements Augmenter.
func (p *Pipeline) Augment(ctx context.Context, req Request) (Result, error) {
	x := req.Images
	if x == nil {
		return Result{}, fmt.Errorf("augment: no images in the request")
	}
	shape := x.MustSize()
	if len(shape) != 4 {
		return Result{}, fmt.Errorf("augment: images of shape %v; want [N, C, H, W]", shape)
	}
	dt := x.DType()
	if !slices.Contains([]gotch.DType{gotch.Uint8, gotch.Float, gotch.Double, gotch.Half, gotch.BFloat16}, dt) {
		return Result{}, fmt.Errorf("augment: images of dtype %v; want uint8 (0..255) or float (0..1)", dt)
	}
	if shape[0] == 0 || shape[1] == 0 || shape[2] == 0 || shape[3] == 0 {
		return Result{}, fmt.Errorf("augment: empty batch of shape %v", shape)
	}
	in := imageShape{n: int(shape[0]), c: int(shape[1]), h: int(shape[2]), w: int(shape[3])}
	for _, v := range p.views {
		if err := v.Recipe.check(in); err != nil {
			return Result{}, fmt.Errorf("augment: view %s: %w", v.Name, err)
		}
		if v.Grid != nil {
			r := v.Recipe
			if r.Size == 0 {
				r.Size = in.h
			}
			if err := v.Grid.check(r, in.c); err != nil {
				return Result{}, fmt.Errorf("augment: view %s: %w", v.Name, err)
			}
		}
	}

	base := newArena(x.MustDevice())
	defer base.close()
	var x01 *ts.Tensor
	switch dt {
	case gotch.Uint8:
		x01 = base.t(base.t(x.MustTotype(gotch.Float, false)).MustDivScalar(scalar(255), false))
	case gotch.Float:
		x01 = x
	default:
		x01 = base.t(x.MustTotype(gotch.Float, false))
	}

	var res Result
	for i, v := range p.views {
		if err := ctx.Err(); err != nil {
			res.Drop()
			return Result{}, fmt.Errorf("augment: %w", err)
		}
		view := v.Recipe.apply(v.Name, x01, in, newRNG(req.Seed, req.Step, i), base.dev)
		if v.Grid != nil {
			view = v.Grid.cut(view, newRNG(req.Seed, req.Step, patchStream+i), base.dev)
		}
		res.Views = append(res.Views, view)
	}
	return res, nil
}

// imageShape is the shape of an input batch.
type imageShape struct{ n, c, h, w int }

// outHW is the height and width of the recipe's view of images of shape
// in: Size×Size, or the input's own size when Size is 0.
func (r *Recipe) outHW(in imageShape) (int, int) {
	if r.Size > 0 {
		return r.Size, r.Size
	}
	return in.h, in.w
}

// check reports whether the recipe can run on images of shape in.
func (r *Recipe) check(in imageShape) error {
	if err := r.Validate(in.c); err != nil {
		return err
	}
	s, _ := r.outHW(in)
	if r.Size == 0 && in.h != in.w && (r.Crop != nil || r.Rotate) {
		return fmt.Errorf("recipe %s crops or rotates %d×%d images to square views of their size; set its size", r.Name, in.h, in.w)
	}
	if c := r.Crop; c != nil && c.Fixed && (s > in.h || s > in.w) {
		return fmt.Errorf("recipe %s: a fixed %d×%d crop does not fit in %d×%d images; lower its size", r.Name, s, s, in.h, in.w)
	}
	return nil
}
