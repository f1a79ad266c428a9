package plugin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// DefaultLockFile is the lock file's name, in the working directory unless
// Options.LockFile says otherwise.
const DefaultLockFile = "selfsup-plugins.lock"

// ErrLockMismatch is wrapped by the error Open returns for a binary whose
// SHA-256 differs from the one the lock file pins, or that the lock file
// does not list.
var ErrLockMismatch = errors.New("plugin binary does not match the lock file")

// LockFile pins plugin binaries by SHA-256. It is JSON:
//
//	{"version": 1, "plugins": {"selfsup-simclr": {"sha256": "…", "methods": ["simclr"]}}}
//
// Binaries are keyed by file name, so a lock file travels with a checkout
// whose bin/ is built elsewhere.
type LockFile struct {
	Version int                  `json:"version"`
	Plugins map[string]LockEntry `json:"plugins"`
}

// LockEntry pins one binary.
type LockEntry struct {
	SHA256  string   `json:"sha256"`
	Path    string   `json:"path,omitempty"`
	Methods []string `json:"methods,omitempty"`
}

// ReadLockFile reads a lock file written by Lock.
func ReadLockFile(path string) (LockFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return LockFile{}, fmt.Errorf("read plugin lock file: %w", err)
	}
	var l LockFile
	if err := json.Unmarshal(raw, &l); err != nil {
		return LockFile{}, fmt.Errorf("plugin lock file %s is not valid JSON (%w); rewrite it with `selfsup plugin lock`", path, err)
	}
	if l.Version != 1 {
		return LockFile{}, fmt.Errorf("plugin lock file %s has version %d, this selfsup reads version 1; rewrite it with `selfsup plugin lock`", path, l.Version)
	}
	return l, nil
}

// Lock lists the plugin binaries in dirs (SearchDirs when empty), pins each
// that answers Describe by its SHA-256, and writes the lock file to out
// (DefaultLockFile when empty), replacing it atomically. Binaries that do not
// answer are left out and logged.
func Lock(ctx context.Context, out string, dirs []string) (LockFile, error) {
	if out == "" {
		out = DefaultLockFile
	}
	bins, err := List(ctx, dirs)
	if err != nil {
		return LockFile{}, err
	}
	l := LockFile{Version: 1, Plugins: map[string]LockEntry{}}
	for _, b := range bins {
		if b.Err != nil {
			loggerFrom(ctx, nil).Warn().Str("binary", b.Path).Err(b.Err).Msg("not locked: the binary does not answer as a selfsup plugin")
			continue
		}
		if prev, dup := l.Plugins[b.Name]; dup {
			loggerFrom(ctx, nil).Warn().Str("binary", b.Path).Str("kept", prev.Path).Msg("not locked: a binary of the same name comes first in the search path")
			continue
		}
		l.Plugins[b.Name] = LockEntry{SHA256: b.SHA256, Path: b.Path, Methods: b.MethodNames()}
	}
	raw, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return LockFile{}, fmt.Errorf("encode plugin lock file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".selfsup-plugins-*.lock")
	if err != nil {
		return LockFile{}, fmt.Errorf("write plugin lock file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return LockFile{}, fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return LockFile{}, fmt.Errorf("write plugin lock file: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return LockFile{}, fmt.Errorf("write plugin lock file: %w", err)
	}
	return l, nil
}

// Names lists the locked binaries' names, sorted.
func (l LockFile) Names() []string {
	out := make([]string, 0, len(l.Plugins))
	for k := range l.Plugins {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pin is what a process start checks: the expected SHA-256 of the binary,
// or nothing when no lock file applies.
type pin struct {
	lockPath string
	sum      []byte
}

// lockFor returns the pin for the binary at path under the options' lock
// file: none when there is no lock file (unless RequireLock), an error when
// the binary is not listed or its hash differs.
func lockFor(path string, opts Options) (*pin, error) {
	lockPath := opts.LockFile
	if lockPath == "" {
		lockPath = DefaultLockFile
		if _, err := os.Stat(lockPath); errors.Is(err, os.ErrNotExist) {
			if opts.RequireLock {
				return nil, fmt.Errorf("no plugin lock file %s and Options.RequireLock is set; run `selfsup plugin lock` to write one", lockPath)
			}
			return nil, nil
		}
	}
	l, err := ReadLockFile(lockPath)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	have, err := FileSHA256(path)
	if err != nil {
		return nil, err
	}
	e, ok := l.Plugins[name]
	if !ok {
		return nil, fmt.Errorf("%w: plugin %s (%s, SHA-256 %s) is not pinned in %s (it pins %v); run `selfsup plugin lock` to pin it", ErrLockMismatch, name, path, have, lockPath, l.Names())
	}
	if e.SHA256 != have {
		return nil, fmt.Errorf("%w: plugin %s (%s) has SHA-256 %s but %s pins %s; if you rebuilt or updated it on purpose, run `selfsup plugin lock` to pin the new binary", ErrLockMismatch, name, path, have, lockPath, e.SHA256)
	}
	sum, err := hex.DecodeString(e.SHA256)
	if err != nil {
		return nil, fmt.Errorf("plugin lock file %s: bad SHA-256 for %s (%w); run `selfsup plugin lock`", lockPath, name, err)
	}
	return &pin{lockPath: lockPath, sum: sum}, nil
}
