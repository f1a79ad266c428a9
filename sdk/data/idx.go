package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDXType is the element type code of an IDX file (the third magic byte).
type IDXType byte

// The IDX element types.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size returns the size of one element in bytes, or 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// maxIDXBytes bounds the data of one IDX file, so a corrupt header cannot
// make a reader wait for or allocate an absurd amount.
const maxIDXBytes = 1 << 36

// IDX is the content of an IDX file: element type, dimensions, and the
// data as stored, big-endian, row-major.
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Count returns the number of elements, the product of the dimensions.
func (x *IDX) Count() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// ReadIDXFile reads an IDX file, gzipped or plain (found by its first
// bytes, not its name). Errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return x, nil
}

// ReadIDX reads one IDX file from r, gzipped or plain. It fails on a bad
// magic number, an unknown type, truncated data, a damaged gzip stream,
// and bytes after the data.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bad gzip header: %w; the file is damaged, reinstall or re-copy it", err)
		}
		zr.Multistream(false)
		return readIDX(zr, true)
	}
	return readIDX(br, false)
}

func readIDX(r io.Reader, gz bool) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("reading IDX magic number: %w", damaged(err, gz))
	}
	t, ndim := IDXType(magic[2]), int(magic[3])
	if magic[0] != 0 || magic[1] != 0 || t.Size() == 0 {
		return nil, fmt.Errorf("bad IDX magic number % x: not an IDX file (want 00 00 <type> <dims>)", magic)
	}
	if ndim == 0 {
		return nil, errors.New("IDX file with 0 dimensions")
	}
	raw := make([]byte, 4*ndim)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("reading %d IDX dimensions: %w", ndim, damaged(err, gz))
	}
	x := &IDX{Type: t, Dims: make([]int, ndim)}
	want := int64(t.Size())
	for i := range x.Dims {
		x.Dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
		if d := int64(x.Dims[i]); d > 0 && want > maxIDXBytes/d {
			return nil, fmt.Errorf("IDX dimensions %v ask for more than %d bytes: the header is corrupt", x.Dims[:i+1], int64(maxIDXBytes))
		}
		want *= int64(x.Dims[i])
	}
	// Grow the buffer as data arrives rather than trusting the header.
	var buf bytes.Buffer
	buf.Grow(int(min(want, 64<<20)))
	n, err := io.CopyN(&buf, r, want)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("truncated IDX data: dimensions %v need %d bytes, file has %d; the file is incomplete, reinstall or re-copy it", x.Dims, want, n)
		}
		return nil, fmt.Errorf("reading IDX data: %w", damaged(err, gz))
	}
	// Reading to the end makes gzip verify its checksum and length.
	var extra [1]byte
	switch k, err := io.ReadFull(r, extra[:]); {
	case k > 0:
		return nil, fmt.Errorf("bytes after the IDX data (dimensions %v): the file is corrupt", x.Dims)
	case err != io.EOF:
		return nil, fmt.Errorf("after the IDX data: %w", damaged(err, gz))
	}
	x.Data = buf.Bytes()
	return x, nil
}

// damaged turns an early end of a stream into a clearer error.
func damaged(err error, gz bool) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("file ends early (%w)", err)
	}
	if gz {
		return fmt.Errorf("gzip stream: %w; the file is damaged, reinstall or re-copy it", err)
	}
	return err
}

// WriteIDX writes x to w as a plain IDX file.
func WriteIDX(w io.Writer, x *IDX) error {
	if x.Type.Size() == 0 {
		return fmt.Errorf("data: write IDX: unknown type 0x%02x", byte(x.Type))
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return fmt.Errorf("data: write IDX: %d dimensions, want 1 to 255", len(x.Dims))
	}
	if len(x.Data) != x.Count()*x.Type.Size() {
		return fmt.Errorf("data: write IDX: %d data bytes for dimensions %v of %d-byte elements", len(x.Data), x.Dims, x.Type.Size())
	}
	head := make([]byte, 4+4*len(x.Dims))
	head[2], head[3] = byte(x.Type), byte(len(x.Dims))
	for i, d := range x.Dims {
		if d < 0 || uint64(d) > 1<<32-1 {
			return fmt.Errorf("data: write IDX: dimension %d out of range", d)
		}
		binary.BigEndian.PutUint32(head[4+4*i:], uint32(d))
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("data: write IDX: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("data: write IDX: %w", err)
	}
	return nil
}
