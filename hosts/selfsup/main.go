// Command selfsup is the self-supervised pre-training host: it pre-trains
// encoders with any method plugin, evaluates and exports them, shows
// augmentations, manages plugins and checks the installation (doctor).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/selfsup/selfsup/sdk/backend"
)

// command is one subcommand: a one-line summary and its entry point, which
// parses its own flags from args and returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"doctor":   {"check the installation: Go, gotch, libtorch, devices, BLAS, plugins, data", runDoctor},
		"pretrain": {"pre-train an encoder with a method plugin, then evaluate it", runPretrain},
		"eval":     {"evaluate a checkpoint's trunk: kNN, linear probe, alignment/uniformity, baselines", runEval},
		"augment":  {"show augmentation recipes as a PNG grid, or print them as YAML", runAugment},
		"export":   {"write a checkpoint's trunk as safetensors with PyTorch state_dict names", runExport},
		"plugin":   {"list, lock and check method plugins (conformance kit)", runPlugin},
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "selfsup — self-supervised representation learning from Go")
	fmt.Fprintln(w, "\nUsage: selfsup COMMAND [flags]   (selfsup COMMAND --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}

func main() {
	if err := backend.EnsurePassiveWait(); err != nil {
		fmt.Fprintln(os.Stderr, "selfsup:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "selfsup: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}
