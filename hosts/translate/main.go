// Command selfsup-translate is the CUT image translator: it writes rendered
// paired-truth sets, trains CUT or FastCUT with the PatchNCE method plugin,
// and applies a trained generator. The work lives in package translate;
// this binary parses flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/selfsup/selfsup/hosts/translate/cli"
	"github.com/selfsup/selfsup/sdk/backend"
)

func main() {
	// before libtorch's threads first wait (see backend.EnsurePassiveWait)
	if err := backend.EnsurePassiveWait(); err != nil {
		fmt.Fprintln(os.Stderr, "selfsup-translate:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
