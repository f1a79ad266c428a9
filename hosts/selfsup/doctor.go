package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// check is one line of the doctor's report.
type check struct {
	name   string
	status string // "ok", "warn", "missing"
	detail string
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("fashion-mnist", data.DefaultFashionMNISTDir, "folder of the Fashion-MNIST IDX files")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: selfsup doctor [--fashion-mnist DIR]\n\nPrints the versions, devices, BLAS, plugins and data selfsup finds, and exits\nnon-zero with what to install when something it needs is missing.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	checks := doctorChecks(ctx, *dataDir)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	missing := 0
	for _, c := range checks {
		mark := map[string]string{"ok": "ok", "warn": "WARN", "missing": "MISSING"}[c.status]
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.name, mark, c.detail)
		if c.status == "missing" {
			missing++
		}
	}
	tw.Flush()
	if missing > 0 {
		fmt.Fprintf(stderr, "\nselfsup doctor: %d thing(s) missing; run `make setup` (it installs the Debian packages) and try again.\n", missing)
		return 1
	}
	return 0
}

func doctorChecks(ctx context.Context, fmnistDir string) []check {
	var cs []check
	cs = append(cs, check{"go", "ok", fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())})
	cs = append(cs, check{"gotch", "ok", moduleVersion("github.com/sugarme/gotch")})
	backend.ConfigureThreads(0)
	tv := backend.TorchVersion()
	st := "ok"
	if !strings.HasPrefix(tv, "1.13") && !strings.HasPrefix(tv, "2.1") {
		st = "warn"
	}
	cs = append(cs, check{"libtorch", st, fmt.Sprintf("%s, %d intra-op threads", tv, backend.Threads())})
	if d, err := tensor.ParseDevice("auto"); err == nil && d.IsCuda() {
		cs = append(cs, check{"devices", "ok", fmt.Sprintf("cpu, %d CUDA device(s)", backend.CUDADevices())})
	} else {
		cs = append(cs, check{"devices", "ok", "cpu (no CUDA device; a CPU build or no GPU)"})
	}
	cs = append(cs, blasCheck())
	if p := os.Getenv("OMP_WAIT_POLICY"); strings.EqualFold(p, "passive") {
		cs = append(cs, check{"openmp", "ok", "OMP_WAIT_POLICY=" + p})
	} else {
		cs = append(cs, check{"openmp", "warn", fmt.Sprintf("OMP_WAIT_POLICY=%q: spinning OpenMP threads slow steps 2-3x when another core is busy", p)})
	}
	cs = append(cs, pluginChecks(ctx)...)
	cs = append(cs, fashionMNISTCheck(fmnistDir))
	return cs
}

func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build info)"
	}
	for _, d := range info.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}

func blasCheck() check {
	libs, err := backend.BLASLibraries()
	if err != nil {
		return check{"blas", "warn", err.Error()}
	}
	switch kind := backend.BLASKind(libs); kind {
	case "openblas", "mkl":
		return check{"blas", "ok", kind + " " + strings.Join(libs, ", ")}
	case "reference":
		return check{"blas", "warn", "netlib reference BLAS (about 15x slower sgemm): apt-get install libopenblas0-pthread, or make setup"}
	default:
		return check{"blas", "warn", fmt.Sprintf("unrecognised BLAS %v", libs)}
	}
}

// pluginChecks lists the plugin search path and what each binary on it
// serves (sdk/plugin's discovery, as `selfsup plugin list`).
func pluginChecks(ctx context.Context) []check {
	dirs := plugin.SearchDirs()
	cs := []check{{"plugin path", "ok", strings.Join(dirs, string(filepath.ListSeparator))}}
	bins, err := plugin.List(ctx, dirs)
	if err != nil {
		return append(cs, check{"plugins", "warn", err.Error()})
	}
	var found []string
	for _, b := range bins {
		if b.Err != nil {
			cs = append(cs, check{"plugin " + b.Name, "warn", b.Err.Error()})
			continue
		}
		found = append(found, fmt.Sprintf("%s (%s)", b.Name, strings.Join(b.MethodNames(), ",")))
	}
	if len(found) == 0 {
		return append(cs, check{"plugins", "warn", "no selfsup-* plugin binaries found: run `make build`"})
	}
	return append(cs, check{"plugins", "ok", strings.Join(found, ", ")})
}

func fashionMNISTCheck(dir string) check {
	if _, err := data.LoadFashionMNIST(dir, data.Test); err != nil {
		return check{"fashion-mnist", "missing", err.Error()}
	}
	return check{"fashion-mnist", "ok", dir}
}
