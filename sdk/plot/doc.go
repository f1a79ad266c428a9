// Package plot draws PNG pictures a person would rather look at than
// read: line charts of training curves (loss, accuracy, learning curves)
// with axes, ticks, a title and a legend, and grids of small images
// (augmented views, samples of a data set).
//
// It is pure Go: lines are anti-aliased with golang.org/x/image/vector
// and text is set in the Go fonts, so the pictures look the same on
// every machine.
package plot
