package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/selfsup/selfsup/sdk/method"
)

// EnvPath names the environment variable with extra plugin folders,
// colon-separated, searched first.
const EnvPath = "SELFSUP_PLUGIN_PATH"

// BinaryPrefix starts the file name of every plugin binary.
const BinaryPrefix = "selfsup-"

// SearchDirs returns the folders searched for plugin binaries, in order:
// those of $SELFSUP_PLUGIN_PATH, bin/ of the enclosing Go module (the
// repository), and the folder of the running executable.
func SearchDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(EnvPath)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dirs = append(dirs, filepath.Join(d, "bin"))
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	return uniqueDirs(dirs)
}

func uniqueDirs(dirs []string) []string {
	seen := map[string]bool{}
	out := dirs[:0:0]
	for _, d := range dirs {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// candidates lists the executable files named selfsup-* in dirs, folder by
// folder in order, each folder's files sorted by name. Missing folders are
// skipped.
// hostBinaries are selfsup's own host programs, which share the selfsup-
// prefix but serve no methods; discovery skips them.
var hostBinaries = []string{"selfsup-rl", "selfsup-translate"}

func candidates(dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range uniqueDirs(dirs) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), BinaryPrefix) && !slices.Contains(hostBinaries, e.Name()) && isExecutable(filepath.Join(d, e.Name())) {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p := filepath.Join(d, n)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// FileSHA256 returns the hex SHA-256 of a file (a plugin binary).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash plugin binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash plugin binary %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// MethodInfo describes one method a plugin binary serves.
type MethodInfo struct {
	Name    string
	Summary string
	Spec    method.Spec
}

// Binary is one plugin binary found by List.
type Binary struct {
	// Path is the binary's absolute path; Name its file name.
	Path, Name string
	// SHA256 is the hex SHA-256 of the file.
	SHA256 string
	// ProtocolVersion is the version host and binary agreed on.
	ProtocolVersion int
	// Methods are the methods it serves, in its order.
	Methods []MethodInfo
	// Err says why the binary did not answer Describe (then it is not a
	// usable plugin and the fields above but Path, Name, SHA256 are empty).
	Err error
}

// MethodNames lists the binary's method names.
func (b Binary) MethodNames() []string {
	out := make([]string, len(b.Methods))
	for i, m := range b.Methods {
		out[i] = m.Name
	}
	return out
}

// List starts every selfsup-* binary in dirs (SearchDirs when dirs is
// empty), asks it to Describe itself, stops it, and reports it. Binaries
// that do not answer are reported with Err set. List does not check the
// lock file: it is how one looks at binaries before locking them. It logs
// through zerolog.Ctx(ctx).
func List(ctx context.Context, dirs []string) ([]Binary, error) {
	if len(dirs) == 0 {
		dirs = SearchDirs()
	}
	var out []Binary
	for _, path := range candidates(dirs) {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("list plugins: %w", err)
		}
		out = append(out, describeBinary(ctx, path))
	}
	return out, nil
}

func describeBinary(ctx context.Context, path string) Binary {
	b := Binary{Path: path, Name: filepath.Base(path)}
	sum, err := FileSHA256(path)
	if err != nil {
		b.Err = err
		return b
	}
	b.SHA256 = sum
	p, err := startProcess(ctx, path, processConfig{log: *loggerFrom(ctx, nil), unlocked: true})
	if err != nil {
		b.Err = err
		return b
	}
	defer p.kill()
	infos, err := p.describe(ctx)
	if err != nil {
		b.Err = err
		return b
	}
	b.ProtocolVersion = p.version
	b.Methods = infos
	return b
}

// Binaries lists the plugin binaries (executables named selfsup-*) in dirs
// (SearchDirs when empty), in search order.
func Binaries(dirs []string) []string {
	if len(dirs) == 0 {
		dirs = SearchDirs()
	}
	return candidates(dirs)
}

// Describe starts the binary at path, asks what it serves and stops it, like
// List does for each binary it finds.
func Describe(ctx context.Context, path string) Binary {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Binary{Path: path, Name: filepath.Base(path), Err: err}
	}
	return describeBinary(ctx, abs)
}
