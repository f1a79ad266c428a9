// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte
// range (plus an optional "__metadata__" map of strings), padded with spaces
// to 8 bytes, then the raw little-endian data. selfsup uses it for exported
// trunks (PyTorch loads them with safetensors.torch.load_file) and for
// checkpoints.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// maxHeader bounds the JSON header a reader accepts (the format's own limit
// is 100 MB).
const maxHeader = 100 << 20

var dtypeNames = []struct {
	name string
	dt   gotch.DType
}{
	{"F32", gotch.Float}, {"F64", gotch.Double}, {"I64", gotch.Int64},
	{"I32", gotch.Int}, {"U8", gotch.Uint8}, {"I8", gotch.Int8}, {"BOOL", gotch.Bool},
	{"F16", gotch.Half}, {"BF16", gotch.BFloat16}, {"I16", gotch.Int16},
}

func dtypeName(dt gotch.DType) (string, error) {
	for _, d := range dtypeNames {
		if d.dt == dt {
			return d.name, nil
		}
	}
	return "", fmt.Errorf("dtype %v has no safetensors name", dt)
}

func dtypeOf(name string) (gotch.DType, error) {
	for _, d := range dtypeNames {
		if d.name == name {
			return d.dt, nil
		}
	}
	return gotch.Float, fmt.Errorf("unsupported safetensors dtype %q", name)
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// Write writes tensors (any device; copied to host) and metadata to w, the
// tensors in name order.
func Write(w io.Writer, tensors map[string]*ts.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var blob []byte
	for _, n := range names {
		t := tensors[n]
		dn, err := dtypeName(t.DType())
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		shape, err := t.Size()
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		start := int64(len(blob))
		if blob, err = tensor.AppendBytes(blob, t); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		if shape == nil {
			shape = []int64{}
		}
		header[n] = entry{DType: dn, Shape: shape, Offsets: [2]int64{start, int64(len(blob))}}
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
	for _, b := range [][]byte{n[:], hj, blob} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("safetensors: write: %w", err)
		}
	}
	return nil
}

// Read parses a safetensors stream into CPU tensors (the caller frees them)
// and its metadata. A malformed or truncated stream is an error, never a
// panic.
func Read(r io.Reader) (map[string]*ts.Tensor, map[string]string, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header length: %w", err)
	}
	hl := binary.LittleEndian.Uint64(n[:])
	if hl > maxHeader {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes is larger than the format allows: not a safetensors file?", hl)
	}
	hj := make([]byte, hl)
	if _, err := io.ReadFull(r, hj); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hj, &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header is not JSON: %w", err)
	}
	var meta map[string]string
	entries := map[string]entry{}
	var end int64
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: metadata: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: entry %q: %w", k, err)
		}
		entries[k] = e
		end = max(end, e.Offsets[1])
	}
	blob := make([]byte, end)
	if _, err := io.ReadFull(r, blob); err != nil {
		return nil, nil, fmt.Errorf("safetensors: data (%d bytes expected): %w", end, err)
	}
	out := map[string]*ts.Tensor{}
	for k, e := range entries {
		dt, err := dtypeOf(e.DType)
		if err == nil && (e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > end) {
			err = fmt.Errorf("byte range %v outside the data", e.Offsets)
		}
		var t *ts.Tensor
		if err == nil {
			t, err = tensor.FromBytes(blob[e.Offsets[0]:e.Offsets[1]], dt, e.Shape)
		}
		if err != nil {
			for _, x := range out {
				x.MustDrop()
			}
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", k, err)
		}
		out[k] = t
	}
	return out, meta, nil
}

// WriteFile writes atomically: to a temporary file beside path, synced, then
// renamed over path, and the folder synced, so a crash never leaves a
// half-written file under the final name.
func WriteFile(path string, tensors map[string]*ts.Tensor, metadata map[string]string) error {
	tmp, err := os.CreateTemp(dirOf(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, tensors, metadata); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("safetensors: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if d, err := os.Open(dirOf(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ReadFile reads a safetensors file.
func ReadFile(path string) (map[string]*ts.Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	t, m, err := Read(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, m, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			if i == 0 {
				return "/"
			}
			return path[:i]
		}
	}
	return "."
}
