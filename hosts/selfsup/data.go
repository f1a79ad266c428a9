package main

import (
	"context"
	"fmt"

	"github.com/selfsup/selfsup/sdk/data"
)

// loadData returns the images to train on (the training split, or its first
// Subset images), the whole training split (the kNN bank and probe data of
// evaluation), and the test split when there is one.
func loadData(ctx context.Context, c dataConfig) (trainSet, fullTrain, testSet *data.Dataset, err error) {
	switch c.Source {
	case "", "fashion-mnist":
		if trainSet, err = data.LoadFashionMNIST(c.Dir, data.Train); err != nil {
			return nil, nil, nil, err
		}
		if testSet, err = data.LoadFashionMNIST(c.Dir, data.Test); err != nil {
			return nil, nil, nil, err
		}
	default:
		opts := data.FolderOptions{Size: data.Size{H: or(c.Size, 32), W: or(c.Size, 32)}, Channels: or(c.Channels, 3)}
		if trainSet, err = data.LoadFolder(ctx, c.Source, opts); err != nil {
			return nil, nil, nil, err
		}
		if c.Test != "" {
			if testSet, err = data.LoadFolder(ctx, c.Test, opts); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	fullTrain = trainSet
	if c.Subset > 0 && c.Subset < trainSet.Len() {
		if trainSet, err = trainSet.Head(c.Subset); err != nil {
			return nil, nil, nil, fmt.Errorf("data subset: %w", err)
		}
	}
	return trainSet, fullTrain, testSet, nil
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
