package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/selfsup/selfsup/sdk/plot"
	"github.com/selfsup/selfsup/sdk/progress"
)

// Files of a run folder.
const (
	MetricsFile    = "metrics.jsonl"
	LossPlotFile   = "loss.png"
	CheckpointFile = "checkpoint.safetensors"
)

// Run trains until the planned number of steps, writing a metrics line every
// LogEvery steps to Out/metrics.jsonl, a checkpoint (Out/checkpoint.safetensors)
// every CheckpointEvery steps or at each epoch's end, and the loss curve to
// Out/loss.png. Progress (loss, steps/s, ETA) goes to progressOut. When ctx
// is cancelled it writes a checkpoint first, so the run can be resumed.
func (t *Trainer) Run(ctx context.Context, progressOut io.Writer) error {
	runtime.LockOSThread() // libtorch state is per OS thread; see tensor.Pinned
	defer runtime.UnlockOSThread()
	if err := os.MkdirAll(t.cfg.Out, 0o755); err != nil {
		return fmt.Errorf("train: run folder: %w", err)
	}
	mf, err := os.OpenFile(filepath.Join(t.cfg.Out, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	defer mf.Close()
	enc := json.NewEncoder(mf)
	ckpt := filepath.Join(t.cfg.Out, CheckpointFile)
	bar := progress.New(progressOut, int(t.total), progress.Options{Label: t.spec.Name, Unit: "step", Start: int(t.step)})
	t.log.Info().Str("method", t.spec.Name).Str("encoder", t.trunk.Name()).Int64("steps", t.total).
		Int("steps_per_epoch", t.perEp).Int("batch", t.cfg.BatchSize).Int64("from_step", t.step).Msg("pre-training")
	for t.step < t.total {
		if err := ctx.Err(); err != nil {
			if serr := t.Save(context.WithoutCancel(ctx), ckpt); serr != nil {
				return errors.Join(err, serr)
			}
			t.log.Warn().Int64("step", t.step).Str("checkpoint", ckpt).Msg("interrupted; resume with --resume")
			return err
		}
		rec, err := t.Step(ctx)
		if err != nil {
			return err
		}
		bar.Set(int(rec.Step), progress.M("loss", rec.Loss), progress.M("lr", rec.LR))
		if rec.Step%t.cfg.LogEvery == 0 || rec.Step == t.total {
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("train: metrics: %w", err)
			}
		}
		every := t.cfg.CheckpointEvery
		if (every > 0 && rec.Step%every == 0) || (every == 0 && rec.Step%int64(t.perEp) == 0) || rec.Step == t.total {
			if err := t.Save(ctx, ckpt); err != nil {
				return err
			}
			if err := t.PlotLoss(filepath.Join(t.cfg.Out, LossPlotFile)); err != nil {
				t.log.Warn().Err(err).Msg("loss plot")
			}
		}
	}
	bar.Finish()
	return nil
}

// PlotLoss draws the run's loss curve (from its metrics file, so a resumed
// run's curve covers the whole run) as a PNG.
func (t *Trainer) PlotLoss(path string) error {
	recs, err := ReadMetrics(filepath.Join(t.cfg.Out, MetricsFile))
	if err != nil {
		return err
	}
	if len(recs) < 2 {
		return nil
	}
	var xs, ys []float64
	for _, r := range recs {
		xs = append(xs, r.Epoch)
		ys = append(ys, r.Loss)
	}
	img, err := plot.LineChart{
		Title:  fmt.Sprintf("%s on %s: training loss", t.spec.Name, t.trunk.Name()),
		XLabel: "epoch", YLabel: "loss", Smooth: 0.9,
		Series: []plot.Series{{Name: t.spec.Name, X: xs, Y: ys}},
	}.Render()
	if err != nil {
		return err
	}
	return plot.SavePNG(path, img)
}

// ReadMetrics reads a metrics.jsonl file.
func ReadMetrics(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var out []Record
	for {
		var r Record
		if err := dec.Decode(&r); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("metrics %s: %w", path, err)
		}
		out = append(out, r)
	}
}
