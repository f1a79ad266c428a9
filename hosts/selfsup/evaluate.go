package main

import (
	"context"
	"io"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/eval"
)

// evaluate runs sdk/eval's protocol on a trunk with the recipe's settings.
func evaluate(ctx context.Context, name string, trunk encoder.Encoder, trainSet, testSet *data.Dataset, r recipe, progressOut io.Writer, log zerolog.Logger) (*eval.Report, error) {
	return eval.Run(ctx, trunk, trainSet, testSet, eval.Protocol{
		Name: name, Data: r.Data.Source,
		KNN:   eval.KNNOptions{K: r.Eval.K, T: r.Eval.T},
		Probe: eval.ProbeOptions{Epochs: r.Eval.LinearEpochs},
		Seed:  r.Train.Seed, NoBaselines: r.Eval.NoBaselines, SaveProbe: r.Eval.SaveProbe,
		Progress: progressOut, Log: log,
	})
}
