// Command selfsup-rl runs the pixel RL environments: list them, drive one
// with the keyboard, watch a policy, or record episodes as GIFs.
//
//	selfsup-rl envs
//	selfsup-rl play --env cartpole-swingup
//	selfsup-rl watch --env ball-in-cup-catch --style textured
//	selfsup-rl record --env reacher-easy --style flat --out reacher.gif
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/selfsup/selfsup/hosts/rl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
