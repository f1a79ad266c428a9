package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// record is one line of metrics.jsonl.
type record struct {
	Step  int64   `json:"step"`
	Epoch float64 `json:"epoch"`
	Loss  float64 `json:"loss"`
	Sec   float64 `json:"step_s"`
}

// readRecords reads a run's metrics.jsonl.
func readRecords(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var x record
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, x)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no steps", path)
	}
	return recs, nil
}

// median is the median step time of recs.
func median(recs []record) float64 {
	secs := make([]float64, len(recs))
	for i, x := range recs {
		secs[i] = x.Sec
	}
	slices.Sort(secs)
	return secs[len(secs)/2]
}

// readMetrics summarises a run's metrics.jsonl: steps, loss at the start
// and the end (means of the first and last 20 steps), wall-clock per epoch
// (sum of the step times over the epochs) and the median step time.
func readMetrics(path string) (result, error) {
	var r result
	recs, err := readRecords(path)
	if err != nil {
		return r, err
	}
	var sum float64
	for _, x := range recs {
		sum += x.Sec
	}
	last := recs[len(recs)-1]
	r.Steps = last.Step
	r.MedianStep = median(recs)
	if last.Epoch > 0 {
		r.SecPerEpoch = sum / last.Epoch
	}
	w := min(20, len(recs))
	for _, x := range recs[:w] {
		r.LossFrom += x.Loss / float64(w)
	}
	for _, x := range recs[len(recs)-w:] {
		r.LossTo += x.Loss / float64(w)
	}
	return r, nil
}

// medianStep is the median step_s of a metrics.jsonl after skipping its
// first skip steps (warm-up).
func medianStep(path string, skip int) (float64, error) {
	recs, err := readRecords(path)
	if err != nil {
		return 0, err
	}
	if len(recs) <= skip {
		return 0, fmt.Errorf("%s: fewer than %d steps", path, skip+1)
	}
	return median(recs[skip:]), nil
}

// recipeBatch reads train.batch_size of a recipe file.
func recipeBatch(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var r struct {
		Train struct {
			BatchSize int `yaml:"batch_size"`
		} `yaml:"train"`
	}
	if err := yaml.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if r.Train.BatchSize == 0 {
		return 256, nil // train.Config's default
	}
	return r.Train.BatchSize, nil
}

// evalRow is one row of eval.json.
type evalRow struct {
	Name      string  `json:"name"`
	Baseline  bool    `json:"baseline"`
	Source    string  `json:"source"`
	KNN       float64 `json:"knn"`
	LinearRaw float64 `json:"linear_raw"`
	LinearL2  float64 `json:"linear_l2"`
}

func readEval(path string) ([]evalRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Results []evalRow `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep.Results, nil
}
