// Package tensor holds selfsup's small helpers over gotch tensors: device
// selection, scoped freeing of the tensors a step makes, and conversion
// between tensors and Go slices or little-endian bytes (the plugin wire
// format). Seeding and libtorch's own settings live in sdk/backend.
package tensor
