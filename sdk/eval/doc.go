// Package eval measures how good frozen features are, with the protocols
// of the self-supervised literature, defined exactly as the PyTorch
// reference in ../shared/reference/pytorch-fmnist (common.py) so numbers
// compare:
//
//   - Extract runs an encoder in eval mode, without gradients, over a data
//     set and returns its pooled features [N, D]; Pixels returns the
//     flattened, normalised pixels (the raw-pixel baseline).
//   - KNN is the weighted k-nearest-neighbour classifier of InstDisc and
//     lightly's knn_predict: L2-normalised features, cosine similarity,
//     the k most similar training features vote for their class with
//     weight exp(similarity/T); the defaults are k=200, T=0.1.
//   - LinearProbe trains one linear layer on frozen features with Adam
//     (lr 1e-3, batch 256, 30 epochs) and reports the test accuracy after
//     the last epoch, on raw ("linear_raw") or L2-normalised ("linear_l2")
//     features.
//   - AlignUniform is the alignment and uniformity of Wang & Isola (2020).
//   - Evaluate runs all of them on one set of features, and a Report puts
//     the results next to the baselines (raw pixels, a random-init
//     encoder) as a table, JSON and a PNG of the probes' curves.
//
// Accuracies are percentages in [0, 100]. Features are tensors the caller
// owns and frees; every function here frees what it makes.
package eval
