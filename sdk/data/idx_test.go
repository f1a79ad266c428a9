package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes x as a plain IDX file, failing the test on error.
func idxBytes(t *testing.T, x *IDX) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteIDX(&buf, x); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBytes compresses b.
func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIDXRoundTrip(t *testing.T) {
	pixels := make([]byte, 3*4*5)
	for i := range pixels {
		pixels[i] = byte(i * 7)
	}
	tests := []struct {
		name string
		x    *IDX
		gz   bool
	}{
		{"images plain", &IDX{Type: IDXUint8, Dims: []int{3, 4, 5}, Data: pixels}, false},
		{"images gzip", &IDX{Type: IDXUint8, Dims: []int{3, 4, 5}, Data: pixels}, true},
		{"labels gzip", &IDX{Type: IDXUint8, Dims: []int{6}, Data: []byte{0, 1, 2, 9, 9, 3}}, true},
		{"int32 plain", &IDX{Type: IDXInt32, Dims: []int{2}, Data: []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}}, false},
		{"float64 gzip", &IDX{Type: IDXFloat64, Dims: []int{1, 1}, Data: make([]byte, 8)}, true},
		{"empty", &IDX{Type: IDXUint8, Dims: []int{0, 28, 28}, Data: nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := idxBytes(t, tt.x)
			if tt.gz {
				b = gzipBytes(t, b)
			}
			path := writeFile(t, t.TempDir(), "x.idx", b)
			got, err := ReadIDXFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.x.Type || !slices.Equal(got.Dims, tt.x.Dims) || !bytes.Equal(got.Data, tt.x.Data) {
				t.Errorf("read %v %v (%d bytes), want %v %v (%d bytes)",
					got.Type, got.Dims, len(got.Data), tt.x.Type, tt.x.Dims, len(tt.x.Data))
			}
		})
	}
}

func TestIDXCorrupt(t *testing.T) {
	good := idxBytes(t, &IDX{Type: IDXUint8, Dims: []int{10, 28, 28}, Data: make([]byte, 10*28*28)})
	goodGz := gzipBytes(t, good)
	flipped := slices.Clone(goodGz)
	flipped[len(flipped)-6] ^= 0xff // inside the CRC-32 trailer
	huge := slices.Clone(good)
	copy(huge[4:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	tests := []struct {
		name string
		b    []byte
		want string // a piece of the error message
	}{
		{"empty file", nil, "magic"},
		{"bad magic", append([]byte{0x12, 0x34, 0x08, 0x03}, good[4:]...), "bad IDX magic"},
		{"unknown type", append([]byte{0, 0, 0x42, 0x03}, good[4:]...), "bad IDX magic"},
		{"short dims", good[:9], "dimensions"},
		{"truncated data", good[:len(good)-100], "truncated"},
		{"trailing bytes", append(slices.Clone(good), 1, 2, 3), "after the IDX data"},
		{"huge header", huge, "corrupt"},
		{"truncated gzip", goodGz[:len(goodGz)/2], "gzip"},
		{"gzip without trailer", goodGz[:len(goodGz)-8], "gzip"},
		{"bad gzip checksum", flipped, "gzip"},
		{"bad gzip header", append([]byte{0x1f, 0x8b, 0x99}, goodGz[3:]...), "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "broken-idx3-ubyte.gz", tt.b)
			x, err := ReadIDXFile(path)
			if err == nil {
				t.Fatalf("read %v with no error, want an error", x.Dims)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestWriteIDXRejects(t *testing.T) {
	tests := []struct {
		name string
		x    *IDX
	}{
		{"unknown type", &IDX{Type: 0x42, Dims: []int{1}, Data: []byte{0}}},
		{"no dims", &IDX{Type: IDXUint8}},
		{"short data", &IDX{Type: IDXUint8, Dims: []int{4}, Data: []byte{0}}},
		{"negative dim", &IDX{Type: IDXUint8, Dims: []int{-1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteIDX(&bytes.Buffer{}, tt.x); err == nil {
				t.Error("no error, want one")
			}
		})
	}
}
