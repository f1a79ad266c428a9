// Package cli is the selfsup-rl command line: one function per subcommand,
// each parsing its own flags. main only wires signals and exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// app holds what every subcommand shares.
type app struct {
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
}

func commands() map[string]command {
	return map[string]command{
		"envs":   {"list the environments", runEnvs},
		"play":   {"drive an environment with the keyboard in a window", runPlay},
		"watch":  {"watch a policy (a trained agent's, or random) act in a window", runWatch},
		"record": {"record episodes as animated GIFs", runRecord},
		"train":  {"train a SAC agent (CURL, pixel SAC, RAD, state SAC) and evaluate it", runTrain},
		"eval":   {"evaluate a trained agent (a run's checkpoint), with a GIF", runEval},
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
		fmt.Fprintf(stderr, "selfsup-rl: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, a, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "selfsup-rl %s: %v\n", args[0], err)
			return 2
		}
		a.log.Error().Err(err).Str("command", args[0]).Msg("failed")
		return 1
	}
	return 0
}

// usageError is a mistake on the command line.
type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: selfsup-rl <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nrun `selfsup-rl <command> -h` for its flags")
}

// newLogger logs for people on a terminal and as JSON otherwise.
func newLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(a *app, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: selfsup-rl %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}
