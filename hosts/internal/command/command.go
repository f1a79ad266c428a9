// Package command is what the selfsup host command lines share: subcommand
// dispatch and usage, exit codes, the logger, and flag sets that report
// their errors instead of exiting.
package command

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

// Command is one subcommand.
type Command struct {
	Summary string
	Run     func(ctx context.Context, args []string) error
}

// UsageError is a mistake on the command line (exit code 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Main runs the subcommand args names and returns the process exit code:
// 0, 1 for a failure (logged), 2 for a usage error (printed with the
// usage when the command is unknown). No command prints the usage (exit
// 2), -h/--help/help too (exit 0).
func Main(ctx context.Context, prog string, cmds map[string]Command, args []string, stderr io.Writer, log zerolog.Logger) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		Usage(stderr, prog, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", prog, args[0])
		Usage(stderr, prog, cmds)
		return 2
	}
	if err := cmd.Run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "%s %s: %v\n", prog, args[0], err)
			return 2
		}
		log.Error().Err(err).Str("command", args[0]).Msg("failed")
		return 1
	}
	return 0
}

// Usage lists the commands.
func Usage(w io.Writer, prog string, cmds map[string]Command) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", prog)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].Summary)
	}
	fmt.Fprintf(w, "\nrun `%s <command> -h` for its flags\n", prog)
}

// NewLogger logs for people on a terminal and as JSON otherwise.
func NewLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

// NewFlags returns a flag set that reports errors instead of exiting and
// whose usage line reads "usage: prog name synopsis".
func NewFlags(stderr io.Writer, prog, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s %s %s\n\nflags:\n", prog, name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args, turning flag mistakes and stray arguments into
// usage errors.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Errorf("unexpected arguments %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}
