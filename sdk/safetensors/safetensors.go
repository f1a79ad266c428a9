package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// littleEndian reports whether tensor memory is little-endian, as the format
// is: the gotch layer copies tensor bytes as they lie.
func littleEndian() error {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return errors.New("safetensors: this machine is big-endian; tensor bytes would need swapping, which is not implemented")
	}
	return nil
}

// Write writes tensors (any device; copied to host one at a time) and
// metadata to w, the tensors in name order.
func Write(w io.Writer, tensors map[string]*ts.Tensor, metadata map[string]string) error {
	if err := littleEndian(); err != nil {
		return err
	}
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	slots := make([]slot, len(names))
	for i, n := range names {
		t := tensors[n]
		dn, err := DTypeName(t.DType())
		if err != nil {
			return fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		shape, err := t.Size()
		if err != nil {
			return fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		size, err := byteSize(shape, t.DType())
		if err != nil {
			return fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		slots[i] = slot{name: n, dtype: dn, shape: shape, size: size}
	}
	if err := writeHeader(w, metadata, slots); err != nil {
		return err
	}
	var buf []byte
	for i, n := range names {
		var err error
		if buf, err = tensor.AppendBytes(buf[:0], tensors[n]); err != nil {
			return fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		if int64(len(buf)) != slots[i].size {
			return fmt.Errorf("safetensors: tensor %s: %d bytes of data, its header says %d", n, len(buf), slots[i].size)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("safetensors: write: %w", err)
		}
	}
	return nil
}

// ToTensor copies t into a new CPU tensor (the caller frees it).
func (t Tensor) ToTensor() (*ts.Tensor, error) {
	if err := littleEndian(); err != nil {
		return nil, err
	}
	dt, err := DType(t.DType)
	if err != nil {
		return nil, err
	}
	return tensor.FromBytes(t.Data, dt, t.Shape)
}

// ToTensors copies every tensor of f into a new CPU tensor (the caller frees
// them); on an error it frees what it made.
func (f *File) ToTensors() (map[string]*ts.Tensor, error) {
	out := make(map[string]*ts.Tensor, len(f.Tensors))
	for n, t := range f.Tensors {
		x, err := t.ToTensor()
		if err != nil {
			for _, y := range out {
				y.MustDrop()
			}
			return nil, fmt.Errorf("safetensors: tensor %s: %w", n, err)
		}
		out[n] = x
	}
	return out, nil
}

// Read parses a whole safetensors stream (strictly, see Parse) into CPU
// tensors (the caller frees them) and its metadata. A malformed or
// truncated stream is an error, never a panic.
func Read(r io.Reader) (map[string]*ts.Tensor, map[string]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: read: %w", err)
	}
	return decode(b)
}

func decode(b []byte) (map[string]*ts.Tensor, map[string]string, error) {
	f, err := Parse(b)
	if err != nil {
		return nil, nil, err
	}
	t, err := f.ToTensors()
	if err != nil {
		return nil, nil, err
	}
	return t, f.Metadata, nil
}

// ParseFile reads and parses (see Parse) a whole safetensors file.
func ParseFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ReadFile reads a safetensors file into CPU tensors (see Read).
func ReadFile(path string) (map[string]*ts.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %w", err)
	}
	t, m, err := decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, m, nil
}

// WriteFile writes tensors and metadata to path atomically (see
// WriteFileAtomic).
func WriteFile(path string, tensors map[string]*ts.Tensor, metadata map[string]string) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return Write(w, tensors, metadata) })
}

// WriteFileAtomic writes path with write: into a temporary file beside it,
// synced, then renamed over path, and the folder synced, so a crash never
// leaves a half-written file under the final name. The temporary file is
// removed on any error; write's own error is returned as it is.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: %w (is the folder there and writable?)", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("safetensors: close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}
