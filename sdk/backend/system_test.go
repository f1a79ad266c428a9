package backend

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestBLASKind(t *testing.T) {
	cases := []struct {
		libs []string
		want string
	}{
		{[]string{"/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}, "openblas"},
		{[]string{"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"}, "reference"},
		{[]string{"/opt/intel/libmkl_rt.so"}, "mkl"},
		{nil, "unknown"},
	}
	for _, c := range cases {
		if got := BLASKind(c.libs); got != c.want {
			t.Errorf("BLASKind(%v) = %q, want %q", c.libs, got, c.want)
		}
	}
}

// TestBLASResolved: libtorch is linked into this test binary, so its BLAS
// must be mapped. Setup installs OpenBLAS; a reference BLAS is reported.
func TestBLASResolved(t *testing.T) {
	libs, err := BLASLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		t.Fatal("no BLAS library mapped, though libtorch links libblas.so.3")
	}
	t.Logf("BLAS: %s %v", BLASKind(libs), libs)
}

// TestEnsurePassiveWait re-runs this test binary without OMP_WAIT_POLICY and
// OPENBLAS_THREAD_TIMEOUT and checks that the child re-executed itself with
// the defaults, keeping what the user set.
func TestEnsurePassiveWait(t *testing.T) {
	if os.Getenv("SELFSUP_OMP_CHILD") == "1" {
		if err := EnsurePassiveWait(); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("policy=" + os.Getenv("OMP_WAIT_POLICY") + " openblas=" + os.Getenv("OPENBLAS_THREAD_TIMEOUT") + "\n")
		return
	}
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"unset become the defaults", nil, "policy=PASSIVE openblas=4"},
		{"user setting kept", []string{"OMP_WAIT_POLICY=ACTIVE"}, "policy=ACTIVE openblas=4"},
		{"both user settings kept", []string{"OMP_WAIT_POLICY=ACTIVE", "OPENBLAS_THREAD_TIMEOUT=20"}, "policy=ACTIVE openblas=20"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEnsurePassiveWait$", "-test.v")
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "OMP_WAIT_POLICY=") && !strings.HasPrefix(kv, "OPENBLAS_THREAD_TIMEOUT=") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(append(env, "SELFSUP_OMP_CHILD=1"), c.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("child printed %q, want %q", out, c.want)
			}
		})
	}
}
