// Package cli is the selfsup-translate command line: one function per
// subcommand, each parsing its own flags.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

type command struct {
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

type app struct {
	stdout, stderr io.Writer
	log            zerolog.Logger
}

func commands() map[string]command {
	return map[string]command{
		"data":  {"write a rendered paired-truth set (flat → textured) in the official folder layout", runData},
		"train": {"train CUT or FastCUT on a folder set (trainA, trainB) with the PatchNCE method", runTrain},
		"apply": {"translate an image or a folder with a trained generator", runApply},
		"eval":  {"score a trained generator against paired truth: L1, PSNR, SSIM", runEval},
	}
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, log: newLogger(stderr)}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "selfsup-translate: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, a, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "selfsup-translate %s: %v\n", args[0], err)
			return 2
		}
		a.log.Error().Err(err).Str("command", args[0]).Msg("failed")
		return 1
	}
	return 0
}

type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: selfsup-translate <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-6s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nselfsup-translate <command> --help shows its flags.")
}

func newLogger(w io.Writer) zerolog.Logger {
	cw := zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		cw.NoColor = false
	}
	return zerolog.New(cw).With().Timestamp().Logger()
}

func newFlags(name string, a *app) *flag.FlagSet {
	fs := flag.NewFlagSet("selfsup-translate "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	return fs
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
	}
	return nil
}
