package backend

import (
	"strings"
	"testing"
)

func TestNativeInfo(t *testing.T) {
	if v := TorchVersion(); !strings.HasPrefix(v, "1.13") && !strings.HasPrefix(v, "2.1") {
		t.Errorf("TorchVersion() = %q, want 1.13.x or 2.1.x", v)
	}
	if c := TorchConfig(); !strings.Contains(c, "PyTorch built with") {
		t.Errorf("TorchConfig() does not look like torch's config: %q", c)
	}
	old := Threads()
	SetThreads(1)
	if got := Threads(); got != 1 {
		t.Errorf("Threads() after SetThreads(1) = %d", got)
	}
	SetThreads(old)
	if n := CUDADevices(); n < 0 {
		t.Errorf("CUDADevices() = %d", n)
	}
}
