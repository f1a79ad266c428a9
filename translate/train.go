package translate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/progress"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TrainOptions set a training run on a folder set (trainA, trainB, and
// testA/testB when there are: with the same names, testB is A's truth).
type TrainOptions struct {
	Data, Out string
	Model     Config
	Pre       Preprocess
	// Batch is images per step (1); Epochs the run's length (default
	// the config's NEpochs + NEpochsDecay).
	Batch  int
	Epochs int64
	// GridEvery is the epochs between the PNG grids (input | output |
	// truth when known) of the first test images.
	GridEvery int64
	// Resume continues the run in Out from its checkpoint (written at the
	// end of every epoch) when there is one; the result equals an
	// uninterrupted run.
	Resume   bool
	Device   gotch.Device
	Log      zerolog.Logger
	Progress io.Writer
}

// trainState is checkpoint/state.json.
type trainState struct {
	Iter   int64          `json:"iter"`
	Config Config         `json:"config"`
	Batch  int            `json:"batch"`
	Pre    Preprocess     `json:"preprocess"`
	Model  ModelState     `json:"model"`
	Data   UnalignedState `json:"data"`
}

// metricsLine is one line of metrics.jsonl.
type metricsLine struct {
	Iter   int64   `json:"iter"`
	Epoch  int64   `json:"epoch"`
	D      float64 `json:"D"`
	DReal  float64 `json:"D_real"`
	DFake  float64 `json:"D_fake"`
	GGAN   float64 `json:"G_GAN"`
	NCE    float64 `json:"NCE"`
	NCEY   float64 `json:"NCE_Y,omitempty"`
	G      float64 `json:"G"`
	LR     float64 `json:"lr"`
	IterS  float64 `json:"iter_s"`
	Images int64   `json:"images"`
}

// Train runs CUT (or FastCUT) with nce, the PatchNCE method (in process
// or a plugin; Train closes it), writing into o.Out: metrics.jsonl every
// iteration, and at the end of every epoch grids/epoch_NNN.png, losses.png,
// the generator's weights (generator.safetensors, official state names)
// and the checkpoint.
func Train(ctx context.Context, o TrainOptions, nce method.Method) error {
	fa, err := OpenFolder(filepath.Join(o.Data, "trainA"))
	if err != nil {
		return err
	}
	fb, err := OpenFolder(filepath.Join(o.Data, "trainB"))
	if err != nil {
		return err
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Epochs <= 0 {
		o.Epochs = o.Model.NEpochs + o.Model.NEpochsDecay
	}
	data, err := NewUnaligned(fa, fb, o.Pre, o.Model.Seed)
	if err != nil {
		return err
	}
	model, err := New(ctx, o.Model, nce, o.Device, int64(o.Pre.Crop), int64(data.Len()), int64(o.Batch))
	if err != nil {
		nce.Close()
		return err
	}
	defer model.Close()
	if err := os.MkdirAll(filepath.Join(o.Out, "grids"), 0o755); err != nil {
		return err
	}
	start := int64(0)
	if o.Resume {
		if start, err = resume(ctx, o, model, data); err != nil {
			return err
		}
	}
	mf, err := openMetrics(filepath.Join(o.Out, "metrics.jsonl"), start)
	if err != nil {
		return err
	}
	defer mf.Close()
	enc := json.NewEncoder(mf)
	perEpoch := int64(data.Len() / o.Batch)
	if perEpoch == 0 {
		return fmt.Errorf("translate: a batch of %d is more than the %d images of an epoch: lower --batch", o.Batch, data.Len())
	}
	total := perEpoch * o.Epochs
	o.Log.Info().Int("A", len(fa.Paths)).Int("B", len(fb.Paths)).Int64("iterations", total).Int64("from", start).Int64("G_params", model.G.Params()).Int64("D_params", model.D.Params()).Msg("training CUT")
	bar := progress.New(o.Progress, int(total), progress.Options{Label: "translate", Unit: "iter", Start: int(start)})
	for it := start; it < total; it++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		va, vb, err := data.Next(o.Batch, it/perEpoch >= o.Model.NEpochs)
		if err != nil {
			return err
		}
		st, err := model.stepFloats(ctx, va, vb, o.Batch, o.Pre.Crop, it)
		if err != nil {
			return err
		}
		dt := time.Since(t0).Seconds()
		epoch := it / perEpoch
		if err := enc.Encode(metricsLine{Iter: it, Epoch: epoch, D: st.D, DReal: st.DReal, DFake: st.DFake, GGAN: st.GGAN, NCE: st.NCE, NCEY: st.NCEY, G: st.G, LR: st.LR, IterS: dt, Images: (it + 1) * int64(o.Batch)}); err != nil {
			return err
		}
		bar.Add(1, progress.M("D", st.D), progress.M("G_GAN", st.GGAN), progress.M("NCE", st.NCE))
		if (it+1)%perEpoch == 0 {
			e := (it + 1) / perEpoch
			if err := SaveGenerator(filepath.Join(o.Out, "generator.safetensors"), model.G); err != nil {
				return err
			}
			if err := writeCheckpoint(ctx, o, model, data, it+1); err != nil {
				return err
			}
			if err := writeLossCurves(filepath.Join(o.Out, "metrics.jsonl"), filepath.Join(o.Out, "losses.png")); err != nil {
				return err
			}
			if o.GridEvery > 0 && (e%o.GridEvery == 0 || e == o.Epochs) {
				if err := writeGrid(filepath.Join(o.Out, "grids", fmt.Sprintf("epoch_%03d.png", e)), model.G, o.Data, o.Pre, 4); err != nil {
					return err
				}
			}
		}
	}
	bar.Finish()
	return nil
}

// writeCheckpoint writes o.Out/checkpoint: the model's tensors and the
// rest of the state to continue at iteration iter.
func writeCheckpoint(ctx context.Context, o TrainOptions, m *Model, data *Unaligned, iter int64) error {
	dir := filepath.Join(o.Out, "checkpoint")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tensors, ms, release, err := m.Save(ctx)
	if err != nil {
		return err
	}
	defer release()
	ds, err := data.State()
	if err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(dir, "model.safetensors"), func(w io.Writer) error {
		return safetensors.Write(w, tensors, nil)
	}); err != nil {
		return err
	}
	b, err := json.Marshal(trainState{Iter: iter, Config: o.Model, Batch: o.Batch, Pre: o.Pre, Model: ms, Data: ds})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

// resume loads o.Out/checkpoint into m and data and returns the iteration
// to continue from (0 without a checkpoint).
func resume(ctx context.Context, o TrainOptions, m *Model, data *Unaligned) (int64, error) {
	dir := filepath.Join(o.Out, "checkpoint")
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		o.Log.Info().Str("out", o.Out).Msg("no checkpoint: starting")
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var st trainState
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("translate: %s: %w", dir, err)
	}
	want, _ := json.Marshal(trainState{Config: o.Model, Batch: o.Batch, Pre: o.Pre})
	have, _ := json.Marshal(trainState{Config: st.Config, Batch: st.Batch, Pre: st.Pre})
	if !bytes.Equal(want, have) {
		return 0, fmt.Errorf("translate: the checkpoint in %s was written with other settings (%s); resume with the same flags", dir, have)
	}
	tensors, _, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, t := range tensors {
			t.MustDrop()
		}
	}()
	if err := m.Load(ctx, tensors, st.Model); err != nil {
		return 0, err
	}
	if err := data.SetState(st.Data); err != nil {
		return 0, err
	}
	o.Log.Info().Int64("iter", st.Iter).Msg("resumed")
	return st.Iter, nil
}

// openMetrics opens metrics.jsonl for appending, keeping the lines of
// iterations before start (a resumed run rewrites what came after its
// checkpoint).
func openMetrics(path string, start int64) (*os.File, error) {
	var keep []byte
	if start > 0 {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, line := range bytes.SplitAfter(old, []byte("\n")) {
			var l metricsLine
			if json.Unmarshal(line, &l) == nil && l.Iter < start {
				keep = append(keep, line...)
			}
		}
	}
	if err := os.WriteFile(path, keep, 0o644); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
}

// stepFloats is Step on CHW float batches.
func (m *Model) stepFloats(ctx context.Context, va, vb []float32, n, size int, it int64) (Stats, error) {
	s := tensor.NewScope()
	defer s.Close()
	mk := func(v []float32) (*ts.Tensor, error) {
		x, err := tensor.FromFloat32(v, int64(n), 3, int64(size), int64(size))
		if err != nil {
			return nil, err
		}
		if m.dev != gotch.CPU {
			x = x.MustTo(m.dev, true)
		}
		return s.T(x), nil
	}
	a, err := mk(va)
	if err != nil {
		return Stats{}, err
	}
	b, err := mk(vb)
	if err != nil {
		return Stats{}, err
	}
	return m.Step(ctx, a, b, it)
}

// SaveGenerator writes g's state (official names: model.N.weight, ...).
func SaveGenerator(path string, g *Generator) error {
	vars := map[string]*ts.Tensor{}
	for name, v := range g.VS.Variables() {
		vars[name] = &v
	}
	meta := map[string]string{"ngf": fmt.Sprint(g.Config.NGF), "blocks": fmt.Sprint(g.Config.Blocks),
		"no_antialias": fmt.Sprint(g.Config.NoAntialias), "no_antialias_up": fmt.Sprint(g.Config.NoAntialiasUp)}
	return safetensors.WriteFile(path, vars, meta)
}

// LoadGenerator copies a state (official names; an official checkpoint's
// "module." prefix stripped) into g, checking that every variable is there
// with its shape.
func LoadGenerator(g *Generator, state map[string]*ts.Tensor) error {
	ours := g.VS.Variables()
	for name, v := range ours {
		src, ok := state[name]
		if !ok {
			src, ok = state["module."+name]
		}
		if !ok {
			return fmt.Errorf("translate: the state has no %s", name)
		}
		if !slices.Equal(src.MustSize(), v.MustSize()) {
			return fmt.Errorf("translate: %s is %v in the state, %v here (other ngf or blocks?)", name, src.MustSize(), v.MustSize())
		}
	}
	var err error
	ts.NoGrad(func() {
		for name, v := range ours {
			src, ok := state[name]
			if !ok {
				src = state["module."+name]
			}
			x := src.MustTo(v.MustDevice(), false)
			dv := v.MustDetach(false)
			dv.Copy_(x)
			dv.MustDrop()
			x.MustDrop()
		}
	})
	return err
}

// SavePNG writes img as a PNG file.
func SavePNG(path string, img image.Image) error { return savePNGFile(path, img) }

// Translate runs g on one preprocessed image (CHW floats in [−1, 1] of
// side size) and returns the output image.
func Translate(g *Generator, v []float32, size int) (*image.RGBA, error) {
	f, err := translateFloats(g, v, size)
	if err != nil {
		return nil, err
	}
	return ToImage(f, size), nil
}

// translateFloats is Translate's output as CHW floats in [−1, 1].
func translateFloats(g *Generator, v []float32, size int) ([]float32, error) {
	x, err := tensor.FromFloat32(v, 1, 3, int64(size), int64(size))
	if err != nil {
		return nil, err
	}
	if d := g.VS.Device(); d != gotch.CPU {
		x = x.MustTo(d, true)
	}
	defer x.MustDrop()
	var out []float64
	tensor.NoGrad(func() {
		y := g.Forward(x)
		defer y.MustDrop()
		out, err = tensor.AsFloat64s(y)
	})
	if err != nil {
		return nil, err
	}
	f := make([]float32, len(out))
	for i, v := range out {
		f[i] = float32(v)
	}
	return f, nil
}

// writeGrid writes rows of input | output | truth (when testB holds the
// same name) for the first n test images (training images without a test
// split).
func writeGrid(path string, g *Generator, dir string, pre Preprocess, n int) error {
	split := "testA"
	fa, err := OpenFolder(filepath.Join(dir, split))
	if err != nil {
		split = "trainA"
		if fa, err = OpenFolder(filepath.Join(dir, split)); err != nil {
			return err
		}
	}
	n = min(n, len(fa.Paths))
	c := pre.Crop
	grid := image.NewRGBA(image.Rect(0, 0, 3*c, n*c))
	for i, p := range fa.Paths[:n] {
		img, err := LoadImage(p)
		if err != nil {
			return err
		}
		v := pre.Apply(img, nil)
		out, err := Translate(g, v, c)
		if err != nil {
			return err
		}
		draw.Draw(grid, image.Rect(0, i*c, c, (i+1)*c), ToImage(v, c), image.Point{}, draw.Src)
		draw.Draw(grid, image.Rect(c, i*c, 2*c, (i+1)*c), out, image.Point{}, draw.Src)
		truth := filepath.Join(dir, split[:len(split)-1]+"B", filepath.Base(p))
		if tb, err := LoadImage(truth); err == nil {
			draw.Draw(grid, image.Rect(2*c, i*c, 3*c, (i+1)*c), ToImage(pre.Apply(tb, nil), c), image.Point{}, draw.Src)
		}
	}
	return savePNGFile(path, grid)
}
