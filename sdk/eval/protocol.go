package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
)

// Files WriteFiles puts into a run folder.
const (
	ReportFile = "eval.json"
	ProbePNG   = "linear.png"
)

const (
	viewsSeed = 7919 // offsets the seed for the alignment's augmented views
	evalBatch = 500
)

// Protocol is selfsup's evaluation protocol of a trained trunk: weighted
// kNN, linear probes on raw and L2-normalised features, alignment of two
// augmented views of the test images and uniformity — and, unless
// NoBaselines, the same for a random-init trunk of the same architecture
// and for raw pixels (plus the PyTorch reference's rows on Fashion-MNIST).
// The zero value is the default protocol.
type Protocol struct {
	// Name labels the trunk's row ("simclr (convnet-s, step 1000)").
	Name string
	// Data names the data set in the report (default "fashion-mnist").
	Data string
	// KNN and Probe size the kNN and the probes (defaults of KNNOptions,
	// ProbeOptions).
	KNN   KNNOptions
	Probe ProbeOptions
	// Seed seeds the random-init baseline, the probes (when Probe.Seed is
	// 0) and the views of the alignment.
	Seed uint64
	// NoBaselines skips the random-init and raw-pixel rows.
	NoBaselines bool
	// SaveProbe, when set, is where the trunk's linear probe on raw
	// features is written (see SaveLinear): a teacher_head for
	// simclrv2_distill.
	SaveProbe string
	// Progress receives progress bars (nil: none).
	Progress io.Writer
	// Log receives one line per model evaluated (zero value: none).
	Log zerolog.Logger
}

// Run evaluates trunk on the train and test splits with protocol p and
// returns the report (write it with WriteFiles). It is the one call behind
// `selfsup eval` and `selfsup pretrain`; a Go program embedding the SDK
// makes the same call.
func Run(ctx context.Context, trunk encoder.Encoder, train, test *data.Dataset, p Protocol) (*Report, error) {
	if trunk == nil || train == nil || test == nil || train.Len() == 0 || test.Len() == 0 {
		return nil, errors.New("eval: need a trunk and non-empty train and test splits")
	}
	if p.Name == "" {
		p.Name = trunk.Name()
	}
	if p.Data == "" {
		p.Data = "fashion-mnist"
	}
	if p.Probe.Seed == 0 {
		p.Probe.Seed = p.Seed
	}
	opts := Options{KNN: p.KNN, Probe: p.Probe, Progress: p.Progress}
	rep := NewReport(p.Data, train.Len(), test.Len(), opts)
	// The trunk's input normalisation and the alignment's views come from
	// the SimCLR recipe of the data's size and channels.
	viewRecipe, err := augment.Builtin("simclr", test.H, test.C)
	if err != nil {
		return nil, err
	}
	norm := Norm{}
	if nm := viewRecipe.Normalize; nm != nil {
		norm = Norm{Mean: nm.Mean, Std: nm.Std}
	}
	viewRecipe.Normalize = nil // Extract normalises after the transform
	pipe, err := augment.New(augment.ViewRecipe{Name: "a", Recipe: viewRecipe}, augment.ViewRecipe{Name: "b", Recipe: viewRecipe})
	if err != nil {
		return nil, err
	}
	xopts := ExtractOptions{Norm: norm, BatchSize: evalBatch, Progress: ProgressBar(p.Progress, "features", "image")}

	type model struct {
		name     string
		baseline bool
		enc      func() (encoder.Encoder, error)
	}
	models := []model{{p.Name, false, func() (encoder.Encoder, error) { return trunk, nil }}}
	if !p.NoBaselines {
		models = append(models, model{"random-init " + trunk.Name(), true, func() (encoder.Encoder, error) {
			backend.ManualSeed(p.Seed)
			return encoder.New(trunk.Name(), int64(test.C), trunk.VarStore().Device())
		}})
	}
	for _, m := range models {
		enc, err := m.enc()
		if err != nil {
			return nil, err
		}
		err = func() error {
			if m.baseline { // the baseline's encoder is this call's own
				defer enc.VarStore().Destroy()
			}
			mopts := opts
			var head *ProbeResult // the trunk's probe on raw features, for SaveProbe
			if !m.baseline && p.SaveProbe != "" {
				mopts.Probe.Trained = func(o ProbeOptions, res ProbeResult) {
					if !o.Normalize && !o.Standardize {
						head = &res
					}
				}
			}
			p.Log.Info().Str("model", m.name).Msg("evaluating")
			f, err := EncoderFeatures(ctx, m.name, enc, train, test, xopts)
			if err != nil {
				return err
			}
			f.Baseline = m.baseline
			if f.ViewA, f.ViewB, err = viewFeatures(ctx, enc, test, norm, pipe, p.Seed+viewsSeed); err != nil {
				f.Drop()
				return err
			}
			res, err := Evaluate(ctx, f, train.Labels, test.Labels, mopts)
			f.Drop()
			if err != nil {
				return err
			}
			rep.Add(res)
			if !m.baseline && p.SaveProbe != "" {
				if err := saveProbe(p.SaveProbe, head, m.name, trunk, p.Log); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	if !p.NoBaselines {
		f, err := PixelFeatures(ctx, train, test, ExtractOptions{Norm: norm})
		if err != nil {
			return nil, err
		}
		res, err := Evaluate(ctx, f, train.Labels, test.Labels, opts)
		f.Drop()
		if err != nil {
			return nil, err
		}
		rep.Add(res)
		if p.Data == "fashion-mnist" {
			rep.Add(FashionMNISTReference()...)
		}
	}
	return rep, nil
}

// saveProbe writes the trunk's linear probe on raw features as a Linear
// classifier (see SaveLinear), with where it comes from as metadata.
func saveProbe(path string, p *ProbeResult, model string, trunk encoder.Encoder, log zerolog.Logger) error {
	if p == nil {
		return fmt.Errorf("save probe %s: the evaluation trained no raw-feature probe; this is a bug, please report it", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save probe: %w", err)
	}
	meta := map[string]string{
		"selfsup_probe": "linear_raw",
		"model":         model,
		"encoder":       trunk.Name(),
		"features":      "pooled trunk features, eval mode, raw (not L2-normalised)",
		"accuracy":      strconv.FormatFloat(p.Accuracy, 'f', 2, 64),
	}
	if err := SaveLinear(path, p.Weight, p.Bias, meta); err != nil {
		return fmt.Errorf("%w (check that the probe's path names a writable file)", err)
	}
	log.Info().Str("probe", path).Int("classes", len(p.Bias)).Int("dim", len(p.Weight[0])).Float64("accuracy", p.Accuracy).
		Msg("saved the linear probe on raw features (a teacher_head for simclrv2_distill)")
	return nil
}

// viewFeatures extracts features of two augmented views of every test image
// (row i of both is a positive pair), for the alignment.
func viewFeatures(ctx context.Context, enc encoder.Encoder, test *data.Dataset, norm Norm, pipe *augment.Pipeline, seed uint64) (a, b *ts.Tensor, err error) {
	view := func(which int) func(x *ts.Tensor, start int) (*ts.Tensor, error) {
		return func(x *ts.Tensor, start int) (*ts.Tensor, error) {
			res, err := pipe.Augment(ctx, augment.Request{Images: x, Seed: seed, Step: uint64(start)})
			if err != nil {
				return nil, err
			}
			out := res.Views[which].Images
			res.Views[which].Images = nil
			res.Drop()
			return out, nil
		}
	}
	if a, err = Extract(ctx, enc, test, ExtractOptions{Norm: norm, BatchSize: evalBatch, Transform: view(0)}); err != nil {
		return nil, nil, fmt.Errorf("view features: %w", err)
	}
	if b, err = Extract(ctx, enc, test, ExtractOptions{Norm: norm, BatchSize: evalBatch, Transform: view(1)}); err != nil {
		a.MustDrop()
		return nil, nil, fmt.Errorf("view features: %w", err)
	}
	return a, b, nil
}

// WriteFiles prints the report's table to w and writes eval.json and
// linear.png into dir.
func (r *Report) WriteFiles(dir string, w io.Writer) error {
	fmt.Fprintln(w)
	if err := r.WriteTable(w); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := r.WriteJSON(filepath.Join(dir, ReportFile)); err != nil {
		return err
	}
	if err := r.WriteProbePNG(filepath.Join(dir, ProbePNG)); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s and %s\n", filepath.Join(dir, ReportFile), filepath.Join(dir, ProbePNG))
	return nil
}
