package backend

import (
	"runtime"
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

func TestConfigureThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	cases := []struct {
		n, want int
		env     string
	}{
		{1, 1, ""},
		{2, 2, ""},
		{0, 3, "3"},
	}
	for _, c := range cases {
		t.Setenv("OMP_NUM_THREADS", c.env)
		if got := ConfigureThreads(c.n); got != c.want {
			t.Errorf("ConfigureThreads(%d) with OMP_NUM_THREADS=%q = %d, want %d", c.n, c.env, got, c.want)
		}
	}
}

func TestGradMode(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !GradEnabled() {
		t.Fatal("grad mode off on a fresh thread")
	}
	SetGradEnabled(false)
	if GradEnabled() {
		t.Error("SetGradEnabled(false) had no effect")
	}
	SetGradEnabled(true)
	if !GradEnabled() {
		t.Error("SetGradEnabled(true) had no effect")
	}
}
