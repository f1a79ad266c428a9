// Package cli is the selfsup-translate command line: one function per
// subcommand, each parsing its own flags.
package cli

import (
	"context"
	"flag"
	"io"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/hosts/internal/command"
)

const prog = "selfsup-translate"

type app struct {
	stdout, stderr io.Writer
	log            zerolog.Logger
}

func commands(a *app) map[string]command.Command {
	bind := func(summary string, run func(ctx context.Context, a *app, args []string) error) command.Command {
		return command.Command{Summary: summary, Run: func(ctx context.Context, args []string) error { return run(ctx, a, args) }}
	}
	return map[string]command.Command{
		"data":  bind("write a rendered paired-truth set (flat → textured) in the official folder layout", runData),
		"train": bind("train CUT or FastCUT on a folder set (trainA, trainB) with the PatchNCE method", runTrain),
		"apply": bind("translate an image or a folder with a trained generator", runApply),
		"eval":  bind("score a trained generator against paired truth: L1, PSNR, SSIM", runEval),
	}
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, log: command.NewLogger(stderr)}
	return command.Main(ctx, prog, commands(a), args, stderr, a.log)
}

type usageError = command.UsageError

func newFlags(name, synopsis string, a *app) *flag.FlagSet {
	return command.NewFlags(a.stderr, prog, name, synopsis)
}

func parse(fs *flag.FlagSet, args []string) error { return command.Parse(fs, args) }
