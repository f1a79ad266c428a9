//go:build !cgo

package viewer

import (
	"context"
	"errors"

	"github.com/selfsup/selfsup/envs"
)

// errNoCgo says the viewer was compiled out.
var errNoCgo = errors.New("viewer: this binary was built without cgo, so it has no window: rebuild with CGO_ENABLED=1 and the X11/OpenGL development packages installed")

// Main returns an error: the viewer needs cgo.
func Main(run func()) error { return errNoCgo }

// Play returns an error: the viewer needs cgo.
func Play(ctx context.Context, e envs.Env, o Options) error { return errNoCgo }

// Watch returns an error: the viewer needs cgo.
func Watch(ctx context.Context, e envs.Env, p Policy, o Options) error { return errNoCgo }
