package tensor

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
)

// ParseDevice turns a --device flag ("cpu", "cuda", "cuda:N", "auto") into a
// gotch device. "auto" picks CUDA when libtorch sees a GPU, else the CPU;
// asking for CUDA where there is none is an error that says so.
func ParseDevice(s string) (gotch.Device, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "" || s == "cpu":
		return gotch.CPU, nil
	case s == "auto":
		return gotch.CudaIfAvailable(), nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		n := 0
		if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
			v, err := strconv.Atoi(rest)
			if err != nil || v < 0 {
				return gotch.CPU, fmt.Errorf("device %q: want cuda:N with N a GPU index", s)
			}
			n = v
		}
		count := gotch.CUDA.DeviceCount()
		if count == 0 {
			return gotch.CPU, fmt.Errorf("device %q: libtorch sees no CUDA device (a CPU build, or no GPU); use --device cpu or build with CUDA, see sdk/backend/README.md", s)
		}
		if int64(n) >= count {
			return gotch.CPU, fmt.Errorf("device %q: only %d CUDA device(s)", s, count)
		}
		return gotch.CudaBuilder(uint(n)), nil
	}
	return gotch.CPU, fmt.Errorf("unknown device %q: use cpu, cuda, cuda:N or auto", s)
}

// DeviceName is the flag spelling of a device ("cpu", "cuda:0").
func DeviceName(d gotch.Device) string {
	if d.IsCuda() {
		return fmt.Sprintf("cuda:%d", d.Value)
	}
	return "cpu"
}
