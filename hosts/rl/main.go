// Command selfsup-rl runs the pixel RL environments: list them, drive one
// with the keyboard, watch a policy, record episodes as GIFs, or train a
// SAC agent (CURL, pixel SAC, RAD, state SAC) on one.
//
//	selfsup-rl train --env cartpole-swingup --agent curl
//	selfsup-rl envs
//	selfsup-rl play --env cartpole-swingup
//	selfsup-rl watch --env ball-in-cup-catch --style textured
//	selfsup-rl record --env reacher-easy --style flat --out reacher.gif
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/selfsup/selfsup/hosts/rl/cli"
	"github.com/selfsup/selfsup/sdk/backend"
)

func main() {
	// before libtorch's threads first wait (see backend.EnsurePassiveWait)
	if err := backend.EnsurePassiveWait(); err != nil {
		fmt.Fprintln(os.Stderr, "selfsup-rl:", err)
	}
	// updates allocate the same large batches over and over: keep their
	// memory instead of faulting it in again each time
	if err := backend.HoldFreedMemory(); err != nil {
		fmt.Fprintln(os.Stderr, "selfsup-rl:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
