// Package plugins is the registry of selfsup's built-in methods: one place
// that maps every method name to its constructor. Each family lives in its
// own folder, as an importable package and as a plugin binary
// (plugins/<family>/cmd/selfsup-<family>); hosts open methods out of process
// by name (sdk/plugin) and can use this registry to run them in process.
package plugins

import (
	"fmt"
	"sort"

	"github.com/selfsup/selfsup/plugins/barlowtwins"
	"github.com/selfsup/selfsup/plugins/byol"
	"github.com/selfsup/selfsup/plugins/contrastive"
	"github.com/selfsup/selfsup/plugins/cpcv2"
	"github.com/selfsup/selfsup/plugins/dino"
	"github.com/selfsup/selfsup/plugins/instdisc"
	"github.com/selfsup/selfsup/plugins/invaspread"
	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/plugins/pixpro"
	"github.com/selfsup/selfsup/plugins/pretext"
	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/plugins/simclrv2"
	"github.com/selfsup/selfsup/plugins/swav"
	"github.com/selfsup/selfsup/sdk/method"
)

// Builtin returns the constructors of every built-in method.
func Builtin() []method.Constructor {
	var out []method.Constructor
	for _, family := range [][]method.Constructor{
		simclr.Constructors(),
		moco.Constructors(),
		instdisc.Constructors(),
		swav.Constructors(),
		dino.Constructors(),
		pixpro.Constructors(),
		contrastive.Constructors(),
		byol.Constructors(),
		barlowtwins.Constructors(),
		invaspread.Constructors(),
		simclrv2.Constructors(),
		cpcv2.Constructors(),
		patchnce.Constructors(),
		pretext.Constructors(),
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
