package backend

// #include <malloc.h>
import "C"

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
