package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/selfsup/selfsup/sdk/plot"
)

// Result is one row of a Report: the scores of one representation.
// Accuracies are in percent.
type Result struct {
	Name string `json:"name"`
	// Baseline marks raw pixels, a random-init encoder, or a reference
	// number.
	Baseline bool `json:"baseline"`
	// Source says where a row not measured here comes from (e.g. the
	// PyTorch reference); empty for measured rows.
	Source string `json:"source,omitempty"`
	// Dim is the feature size D.
	Dim int `json:"dim"`
	// KNN is the weighted kNN top-1 accuracy.
	KNN float64 `json:"knn"`
	// LinearRaw and LinearL2 are the linear probe's test accuracy after
	// the last epoch on raw and on L2-normalised features.
	LinearRaw float64 `json:"linear_raw"`
	LinearL2  float64 `json:"linear_l2"`
	// Align and Uniform are nil when not measured.
	Align   *float64 `json:"align,omitempty"`
	Uniform *float64 `json:"uniform,omitempty"`
	// UniformOn says which features the uniformity is of: "views" (two
	// augmented views, with the alignment) or "test" (the test features).
	UniformOn string `json:"uniform_on,omitempty"`
	// The probes' test accuracy after each epoch.
	LinearRawCurve []float64 `json:"linear_raw_curve,omitempty"`
	LinearL2Curve  []float64 `json:"linear_l2_curve,omitempty"`
	Seconds        Timings   `json:"seconds"`
}

// Timings are the wall-clock seconds of each stage of an evaluation.
type Timings struct {
	Extract      float64 `json:"extract"`
	KNN          float64 `json:"knn"`
	Probe        float64 `json:"probe"`
	AlignUniform float64 `json:"align_uniform"`
}

// Report gathers the results of one evaluation run and the settings that
// produced them; it marshals to JSON as is.
type Report struct {
	// Dataset names the data ("fashion-mnist").
	Dataset string `json:"dataset"`
	// Train and Test are the sizes of the bank / probe training set and
	// of the query / probe test set.
	Train int `json:"train"`
	Test  int `json:"test"`
	// The settings used (after defaults).
	KNN          KNNOptions          `json:"knn"`
	Probe        ProbeOptions        `json:"probe"`
	AlignUniform AlignUniformOptions `json:"align_uniform"`
	Results      []Result            `json:"results"`
}

// NewReport returns an empty report of the given data and settings, with
// the defaults filled in.
func NewReport(dataset string, train, test int, opts Options) *Report {
	po := opts.Probe.withDefaults()
	po.Normalize, po.Standardize = false, false
	return &Report{
		Dataset:      dataset,
		Train:        train,
		Test:         test,
		KNN:          opts.KNN.withDefaults(),
		Probe:        po,
		AlignUniform: opts.AlignUniform.withDefaults(),
	}
}

// Add appends results to the report.
func (r *Report) Add(results ...Result) { r.Results = append(r.Results, results...) }

// FashionMNISTReference returns the PyTorch reference's numbers on the full
// Fashion-MNIST splits (../shared/reference/pytorch-fmnist/RESULTS.md,
// table 1), to print beside the baselines measured here.
func FashionMNISTReference() []Result {
	const src = "pytorch reference"
	return []Result{
		{Name: "raw pixels (pytorch)", Baseline: true, Source: src, Dim: 784, KNN: 81.77, LinearRaw: 84.51, LinearL2: 83.37},
		{Name: "random convnet-s (pytorch)", Baseline: true, Source: src, Dim: 128, KNN: 74.61, LinearRaw: 49.60, LinearL2: 65.20},
	}
}

// WriteTable prints the results as an aligned table, trained encoders
// first and baselines after, with a line on the settings.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\tdim\tkNN %\tlinear_raw %\tlinear_l2 %\talign\tuniform")
	var rows []Result
	for _, baseline := range []bool{false, true} {
		for _, res := range r.Results {
			if res.Baseline == baseline {
				rows = append(rows, res)
			}
		}
	}
	for _, res := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t%s\n",
			res.Name, res.Dim, res.KNN, res.LinearRaw, res.LinearL2, optional(res.Align), optional(res.Uniform))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("eval: write table: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s: %d train (kNN bank, probe training) / %d test; kNN k=%d T=%g on L2-normalised features; "+
		"linear probe %d epochs, Adam lr %g, batch %d, seed %d, last epoch; align/uniform alpha=%g t=%g%s\n",
		r.Dataset, r.Train, r.Test, r.KNN.K, r.KNN.T, r.Probe.Epochs, r.Probe.LR, r.Probe.BatchSize, r.Probe.Seed,
		r.AlignUniform.Alpha, r.AlignUniform.T, uniformNote(rows))
	if err != nil {
		return fmt.Errorf("eval: write table: %w", err)
	}
	return nil
}

func optional(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *v)
}

// uniformNote says which features the uniformity column is of.
func uniformNote(rows []Result) string {
	seen := map[string]bool{}
	var on []string
	for _, r := range rows {
		if r.UniformOn != "" && !seen[r.UniformOn] {
			seen[r.UniformOn] = true
			on = append(on, r.UniformOn)
		}
	}
	if len(on) == 0 {
		return ""
	}
	return " (uniformity of the " + strings.Join(on, "/") + " features)"
}

// WriteJSON writes the report as indented JSON to path, atomically (a
// temporary file renamed into place).
func (r *Report) WriteJSON(path string) (err error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: encode report: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("eval: write report %s: %w; check that the folder exists and is writable", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("eval: write report %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("eval: write report %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("eval: write report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("eval: write report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("eval: write report %s: %w", path, err)
	}
	return nil
}

// ProbeChart is a line chart of the linear probes' test accuracy after
// each epoch, one line per result and variant; save it with plot.SavePNG.
func (r *Report) ProbeChart() plot.LineChart {
	c := plot.LineChart{
		Title:  fmt.Sprintf("Linear probe on frozen features (%s)", r.Dataset),
		XLabel: "epoch",
		YLabel: "test accuracy (%)",
	}
	for _, res := range r.Results {
		for _, v := range []struct {
			name  string
			curve []float64
		}{{"linear_raw", res.LinearRawCurve}, {"linear_l2", res.LinearL2Curve}} {
			if len(v.curve) == 0 {
				continue
			}
			x := make([]float64, len(v.curve))
			for i := range x {
				x[i] = float64(i + 1)
			}
			c.Series = append(c.Series, plot.Series{Name: res.Name + " " + v.name, X: x, Y: v.curve})
		}
	}
	return c
}

// WriteProbePNG draws ProbeChart to path.
func (r *Report) WriteProbePNG(path string) error {
	img, err := r.ProbeChart().Render()
	if err != nil {
		return fmt.Errorf("eval: probe chart: %w", err)
	}
	return plot.SavePNG(path, img)
}
