package backend

// #include <malloc.h>
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResidentBytes is the resident set size of this process in bytes (Linux,
// /proc/self/statm).
func ResidentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("read RSS: unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// TrimMalloc returns the C heap's free memory to the operating system
// (glibc's malloc_trim(0) over every arena, holes included), as
// debug.FreeOSMemory does for Go's. Freed tensors' memory otherwise stays
// in the process, more of it the more the sizes of a step's tensors vary
// (glibc raises its mmap threshold after freeing a large block), so resident
// memory measured for a leak check should be read after it. It reports
// whether any memory was released.
func TrimMalloc() bool {
	return C.malloc_trim(0) == 1
}

// HoldFreedMemory makes glibc's malloc keep the memory tensors free for
// the next ones instead of handing it back to the kernel: no mmap'd blocks
// (glibc maps every block over its threshold, at most 32 MiB, afresh, and
// each of its pages faults in again on first touch) and no automatic trim
// of the heap's top. A process whose steps allocate the same large tensors
// over and over (an RL update: 32 MiB observation batches, 27 MiB
// activations) then stops paying the page faults; its resident memory stays
// at its peak, which TrimMalloc still returns when called. It is what
// MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge> do, from inside the
// process.
func HoldFreedMemory() error {
	if C.mallopt(C.M_MMAP_MAX, 0) != 1 || C.mallopt(C.M_TRIM_THRESHOLD, C.int(1<<30)) != 1 {
		return fmt.Errorf("backend: mallopt refused to hold freed memory (not glibc?)")
	}
	return nil
}
