// Package data holds image data sets as uint8 pixels with labels, loads
// them from Debian's Fashion-MNIST IDX files or from folders of PNG and
// JPEG images, and yields deterministic, resumable batches of indices.
//
// Everything here is pure Go: a host turns a batch of pixels into a tensor
// (divide by 255, normalise) where it owns the device.
//
// Layout: a Dataset keeps its N images channels-first, N×C×H×W, in one
// contiguous []uint8, so a batch copies into a tensor with one memcpy per
// image.
package data
