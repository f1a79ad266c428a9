// Package plugins is the registry of selfsup's built-in methods: one place
// that maps every method name to its constructor. Each family lives in its
// own folder, as an importable package and as a plugin binary
// (plugins/<family>/cmd/selfsup-<family>); hosts open methods out of process
// by name (sdk/plugin) and can use this registry to run them in process.
package plugins

import (
	"fmt"
	"sort"

	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/method"
)

// Builtin returns the constructors of every built-in method.
func Builtin() []method.Constructor {
	var out []method.Constructor
	for _, family := range [][]method.Constructor{
		simclr.Constructors(),
		moco.Constructors(),
	} {
		out = append(out, family...)
	}
	return out
}

// Names lists the built-in method names, sorted.
func Names() []string {
	var names []string
	for _, c := range Builtin() {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return names
}

// New returns a fresh built-in method by name.
func New(name string) (method.Method, error) {
	for _, c := range Builtin() {
		if c.Name == name {
			return c.New(), nil
		}
	}
	return nil, fmt.Errorf("no built-in method %q: the built-ins are %v", name, Names())
}
