package main

import (
	"context"
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
	"github.com/selfsup/selfsup/sdk/eval"
)

// Files evaluate writes into the run folder.
const (
	EvalFile  = "eval.json"
	ProbePNG  = "linear.png"
	viewsSeed = 7919 // offsets the run seed for the evaluation's augmented views
	evalBatch = 500
)

// evaluate measures a trunk — and unless the recipe says no, the random-init
// and raw-pixel baselines of the same data — with the standard protocol of
// sdk/eval: weighted kNN, linear probes on raw and L2-normalised features,
// alignment of two augmented views of the test images and uniformity.
func evaluate(ctx context.Context, name string, trunk encoder.Encoder, trainSet, testSet *data.Dataset, r recipe, progressOut io.Writer, log zerolog.Logger) (*eval.Report, error) {
	opts := eval.Options{
		KNN:      eval.KNNOptions{K: r.Eval.K, T: r.Eval.T},
		Probe:    eval.ProbeOptions{Epochs: r.Eval.LinearEpochs, Seed: r.Train.Seed},
		Progress: progressOut,
	}
	rep := eval.NewReport(orStr(r.Data.Source, "fashion-mnist"), trainSet.Len(), testSet.Len(), opts)
	// The trunk's input normalisation and the views for the alignment come
	// from the SimCLR recipe of the data's size and channels.
	viewRecipe, err := augment.Builtin("simclr", testSet.H, testSet.C)
	if err != nil {
		return nil, err
	}
	norm := eval.Norm{}
	if nm := viewRecipe.Normalize; nm != nil {
		norm = eval.Norm{Mean: nm.Mean, Std: nm.Std}
	}
	viewRecipe.Normalize = nil // Extract normalises after the transform
	pipe, err := augment.New(augment.ViewRecipe{Name: "a", Recipe: viewRecipe}, augment.ViewRecipe{Name: "b", Recipe: viewRecipe})
	if err != nil {
		return nil, err
	}
	xopts := eval.ExtractOptions{Norm: norm, BatchSize: evalBatch, Progress: eval.ProgressBar(progressOut, "features", "image")}

	type model struct {
		name     string
		baseline bool
		enc      func() (encoder.Encoder, error)
	}
	models := []model{{name, false, func() (encoder.Encoder, error) { return trunk, nil }}}
	if !r.Eval.NoBaselines {
		models = append(models, model{"random-init " + trunk.Name(), true, func() (encoder.Encoder, error) {
			backend.ManualSeed(r.Train.Seed)
			return encoder.New(trunk.Name(), int64(testSet.C), trunk.VarStore().Device())
		}})
	}
	var head *eval.ProbeResult // the trunk's probe on raw features, for SaveProbe
	for _, m := range models {
		enc, err := m.enc()
		if err != nil {
			return nil, err
		}
		mopts := opts
		if !m.baseline && r.Eval.SaveProbe != "" {
			mopts.Probe.Trained = func(o eval.ProbeOptions, res eval.ProbeResult) {
				if !o.Normalize && !o.Standardize {
					head = &res
				}
			}
		}
		log.Info().Str("model", m.name).Msg("evaluating")
		f, err := eval.EncoderFeatures(ctx, m.name, enc, trainSet, testSet, xopts)
		if err != nil {
			return nil, err
		}
		f.Baseline = m.baseline
		if f.ViewA, f.ViewB, err = viewFeatures(ctx, enc, testSet, norm, pipe, r.Train.Seed+viewsSeed); err != nil {
			f.Drop()
			return nil, err
		}
		res, err := eval.Evaluate(ctx, f, trainSet.Labels, testSet.Labels, mopts)
		f.Drop()
		if err != nil {
			return nil, err
		}
		rep.Add(res)
		if !m.baseline && r.Eval.SaveProbe != "" {
			if err := saveProbe(r.Eval.SaveProbe, head, m.name, trunk, log); err != nil {
				return nil, err
			}
		}
	}
	if !r.Eval.NoBaselines {
		f, err := eval.PixelFeatures(ctx, trainSet, testSet, eval.ExtractOptions{Norm: norm})
		if err != nil {
			return nil, err
		}
		res, err := eval.Evaluate(ctx, f, trainSet.Labels, testSet.Labels, opts)
		f.Drop()
		if err != nil {
			return nil, err
		}
		rep.Add(res)
		if r.Data.Source == "" || r.Data.Source == "fashion-mnist" {
			rep.Add(eval.FashionMNISTReference()...)
		}
	}
	return rep, nil
}

// saveProbe writes the trunk's linear probe on raw features as a Linear
// classifier (see eval.SaveLinear), with where it comes from as metadata.
func saveProbe(path string, p *eval.ProbeResult, model string, trunk encoder.Encoder, log zerolog.Logger) error {
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
	if err := eval.SaveLinear(path, p.Weight, p.Bias, meta); err != nil {
		return fmt.Errorf("%w (check that --save-probe names a writable file)", err)
	}
	log.Info().Str("probe", path).Int("classes", len(p.Bias)).Int("dim", len(p.Weight[0])).Float64("accuracy", p.Accuracy).
		Msg("saved the linear probe on raw features (a teacher_head for simclrv2_distill)")
	return nil
}

// viewFeatures extracts features of two augmented views of every test image
// (row i of both is a positive pair), for the alignment.
func viewFeatures(ctx context.Context, enc encoder.Encoder, testSet *data.Dataset, norm eval.Norm, pipe *augment.Pipeline, seed uint64) (a, b *ts.Tensor, err error) {
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
	if a, err = eval.Extract(ctx, enc, testSet, eval.ExtractOptions{Norm: norm, BatchSize: evalBatch, Transform: view(0)}); err != nil {
		return nil, nil, fmt.Errorf("view features: %w", err)
	}
	if b, err = eval.Extract(ctx, enc, testSet, eval.ExtractOptions{Norm: norm, BatchSize: evalBatch, Transform: view(1)}); err != nil {
		a.MustDrop()
		return nil, nil, fmt.Errorf("view features: %w", err)
	}
	return a, b, nil
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeReport prints the table and writes eval.json and linear.png into dir.
func writeReport(rep *eval.Report, dir string, w io.Writer) error {
	fmt.Fprintln(w)
	if err := rep.WriteTable(w); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := rep.WriteJSON(filepath.Join(dir, EvalFile)); err != nil {
		return err
	}
	if err := rep.WriteProbePNG(filepath.Join(dir, ProbePNG)); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s and %s\n", filepath.Join(dir, EvalFile), filepath.Join(dir, ProbePNG))
	return nil
}
