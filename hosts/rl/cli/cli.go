// Package cli is the selfsup-rl command line: one function per subcommand,
// each parsing its own flags. main only wires signals and exit codes.
package cli

import (
	"context"
	"flag"
	"io"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/hosts/internal/command"
)

const prog = "selfsup-rl"

// app holds what every subcommand shares.
type app struct {
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
}

func commands(a *app) map[string]command.Command {
	bind := func(summary string, run func(ctx context.Context, a *app, args []string) error) command.Command {
		return command.Command{Summary: summary, Run: func(ctx context.Context, args []string) error { return run(ctx, a, args) }}
	}
	return map[string]command.Command{
		"envs":   bind("list the environments", runEnvs),
		"play":   bind("drive an environment with the keyboard in a window", runPlay),
		"watch":  bind("watch a policy (a trained agent's, or random) act in a window", runWatch),
		"record": bind("record episodes as animated GIFs", runRecord),
		"train":  bind("train a SAC agent (CURL, pixel SAC, RAD, state SAC) and evaluate it", runTrain),
		"eval":   bind("evaluate a trained agent (a run's checkpoint), with a GIF", runEval),
	}
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, log: command.NewLogger(stderr)}
	return command.Main(ctx, prog, commands(a), args, stderr, a.log)
}

// usageError is a mistake on the command line.
type usageError = command.UsageError

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(a *app, name, synopsis string) *flag.FlagSet {
	return command.NewFlags(a.stderr, prog, name, synopsis)
}

func parse(fs *flag.FlagSet, args []string) error { return command.Parse(fs, args) }
