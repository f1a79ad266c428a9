package translate

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/selfsup/selfsup/sdk/plot"
)

// writeLossCurves draws metrics.jsonl's losses against the iteration
// (smoothed, log scale) into path.
func writeLossCurves(metricsPath, path string) error {
	f, err := os.Open(metricsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	names := []string{"D", "G_GAN", "NCE", "NCE_Y"}
	series := make([]plot.Series, len(names))
	for i, n := range names {
		series[i].Name = n
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l metricsLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		for i, v := range []float64{l.D, l.GGAN, l.NCE, l.NCEY} {
			series[i].X = append(series[i].X, float64(l.Iter))
			series[i].Y = append(series[i].Y, v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(series[3].Y) > 0 && series[3].Y[len(series[3].Y)-1] == 0 {
		series = series[:3] // FastCUT: no identity term
	}
	img, err := plot.LineChart{Title: "CUT losses", XLabel: "iteration", YLabel: "loss", Series: series, LogY: true, Smooth: 0.9}.Render()
	if err != nil {
		return err
	}
	return plot.SavePNG(path, img)
}
