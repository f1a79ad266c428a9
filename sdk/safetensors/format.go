// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte
// range (plus an optional "__metadata__" map of strings), padded with spaces
// to 8 bytes, then the raw little-endian data. It is selfsup's one tensor
// container: exported trunks (PyTorch loads them with
// safetensors.torch.load_file), checkpoints and method state all use it.
//
// The package has two layers. File and Tensor are the format itself: raw
// bytes, parsed strictly by Parse (as the reference reader does: known
// dtypes, byte ranges that match the shapes and tile the data exactly) and
// written by File.WriteTo. Write, Read, WriteFile and ReadFile move gotch
// tensors in and out of that format.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/sugarme/gotch"
)

// maxHeader bounds the JSON header a reader accepts (the safetensors
// reference implementation's limit).
const maxHeader = 100 << 20

// metadataKey is the header entry that holds the string-to-string metadata.
const metadataKey = "__metadata__"

// Tensor is one tensor of a safetensors file: its dtype as the format
// spells it ("F32", "I64", ...), its shape and its little-endian bytes.
type Tensor struct {
	DType string
	Shape []int64
	Data  []byte
}

// File is a whole safetensors file in memory.
type File struct {
	Metadata map[string]string
	Tensors  map[string]Tensor
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var dtypeNames = []struct {
	name string
	dt   gotch.DType
}{
	{"F32", gotch.Float}, {"F64", gotch.Double}, {"F16", gotch.Half}, {"BF16", gotch.BFloat16},
	{"I64", gotch.Int64}, {"I32", gotch.Int}, {"I16", gotch.Int16}, {"I8", gotch.Int8},
	{"U8", gotch.Uint8}, {"BOOL", gotch.Bool},
}

// DTypeName is the safetensors name of a gotch dtype ("F32" for
// gotch.Float, ...).
func DTypeName(dt gotch.DType) (string, error) {
	for _, d := range dtypeNames {
		if d.dt == dt {
			return d.name, nil
		}
	}
	return "", fmt.Errorf("dtype %v has no safetensors name", dt)
}

// DType is the gotch dtype of a safetensors dtype name (the inverse of
// DTypeName).
func DType(name string) (gotch.DType, error) {
	for _, d := range dtypeNames {
		if d.name == name {
			return d.dt, nil
		}
	}
	return gotch.Float, fmt.Errorf("unsupported dtype %q", name)
}

// byteSize is the number of data bytes a tensor of shape and dtype holds,
// or an error for a negative dimension or a size past what an int64 counts.
func byteSize(shape []int64, dt gotch.DType) (int64, error) {
	n := int64(dt.Size())
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// entry is one tensor in the JSON header.
type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// slot names one tensor of a header about to be written and its size in
// bytes.
type slot struct {
	name  string
	dtype string
	shape []int64
	size  int64
}

// writeHeader writes the length-prefixed, space-padded JSON header for the
// tensors of slots, laid out back to back in that order, and metadata (left
// out when empty).
func writeHeader(w io.Writer, metadata map[string]string, slots []slot) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	var off int64
	for _, s := range slots {
		if s.name == metadataKey {
			return fmt.Errorf("safetensors: a tensor cannot be named %s", metadataKey)
		}
		shape := s.shape
		if shape == nil {
			shape = []int64{} // a 0-d tensor is "shape": []
		}
		header[s.name] = entry{DType: s.dtype, Shape: shape, Offsets: [2]int64{off, off + s.size}}
		off += s.size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(js)))); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(js); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}

// WriteTo writes f in the safetensors format, the tensors in name order,
// after checking that every tensor's dtype is known and its data fills its
// shape exactly.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	names := f.Names()
	slots := make([]slot, len(names))
	var total int64
	for i, n := range names {
		t := f.Tensors[n]
		dt, err := DType(t.DType)
		if err != nil {
			return 0, fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		size, err := byteSize(t.Shape, dt)
		if err != nil {
			return 0, fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		if int64(len(t.Data)) != size {
			return 0, fmt.Errorf("safetensors: tensor %s: %d bytes do not hold a %s tensor of shape %v (%d bytes)", n, len(t.Data), t.DType, t.Shape, size)
		}
		slots[i] = slot{name: n, dtype: t.DType, shape: t.Shape, size: size}
		total += size
	}
	cw := &countWriter{w: w}
	if err := writeHeader(cw, f.Metadata, slots); err != nil {
		return cw.n, err
	}
	for _, n := range names {
		if _, err := cw.Write(f.Tensors[n].Data); err != nil {
			return cw.n, fmt.Errorf("safetensors: write: %w", err)
		}
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Parse decodes a safetensors file held in b. It checks what the reference
// reader checks: the header fits, every dtype is known, every tensor's byte
// range matches its shape, and the ranges tile the data section exactly (no
// gaps, no overlaps, nothing after the last one). A malformed or truncated
// file is an error, never a panic. The tensors' Data alias b.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes: too short for a safetensors file (truncated?)", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d does not fit a %d-byte file (truncated or not safetensors)", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a JSON object: %w", err)
	}
	data := b[8+n:]
	f := &File{Metadata: map[string]string{}, Tensors: map[string]Tensor{}}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == metadataKey {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ is not a string-to-string object: %w", err)
			}
			continue
		}
		var e entry
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		dt, err := DType(e.DType)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		want, err := byteSize(e.Shape, dt)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		if e.Shape == nil {
			e.Shape = []int64{}
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if end > int64(len(data)) && end-begin == want && begin >= 0 {
			return nil, fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] run past the %d data bytes: the file is truncated", name, begin, end, len(data))
		}
		if begin < 0 || end < begin || end > int64(len(data)) || end-begin != want {
			return nil, fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] do not hold a %s tensor of shape %v (%d bytes) within %d data bytes", name, begin, end, e.DType, e.Shape, want, len(data))
		}
		f.Tensors[name] = Tensor{DType: e.DType, Shape: e.Shape, Data: data[begin:end:end]}
		spans = append(spans, span{name, begin, end})
	}
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var at int64
	for _, s := range spans {
		if s.begin != at {
			return nil, fmt.Errorf("safetensors: tensor %s starts at byte %d, want %d: tensors overlap or leave a gap", s.name, s.begin, at)
		}
		at = s.end
	}
	if at != int64(len(data)) {
		return nil, fmt.Errorf("safetensors: tensors end at data byte %d but the file has %d: truncated or trailing bytes", at, len(data))
	}
	return f, nil
}
