package backend

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// BLASLibraries lists the BLAS/LAPACK shared libraries mapped into this
// process (libtorch is loaded, so these are the ones it resolved), with
// symbolic links resolved: on Debian libblas.so.3 is an alternative that
// points at the reference BLAS or at OpenBLAS.
func BLASLibraries() ([]string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("read the process's mapped libraries: %w", err)
	}
	defer f.Close()
	var libs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := fields[len(fields)-1]
		base := strings.ToLower(filepath.Base(path))
		if !strings.Contains(base, "blas") && !strings.Contains(base, "lapack") && !strings.Contains(base, "mkl") {
			continue
		}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		if !slices.Contains(libs, path) {
			libs = append(libs, path)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/maps: %w", err)
	}
	return libs, nil
}

// BLASKind names the BLAS implementation among libs: "openblas", "mkl",
// "reference" (netlib's, about 15× slower for sgemm) or "unknown".
func BLASKind(libs []string) string {
	kind := "unknown"
	for _, l := range libs {
		switch b := strings.ToLower(l); {
		case strings.Contains(b, "openblas"):
			return "openblas"
		case strings.Contains(b, "mkl"):
			return "mkl"
		case strings.Contains(b, "/blas/") || strings.Contains(filepath.Base(b), "libblas"):
			kind = "reference"
		}
	}
	return kind
}
