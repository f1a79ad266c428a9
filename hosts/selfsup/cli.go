package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/sdk/method"
)

// newLogger logs for people on a terminal and as JSON lines elsewhere.
func newLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}).Level(logLevel()).With().Timestamp().Logger()
	}
	return zerolog.New(w).Level(logLevel()).With().Timestamp().Logger()
}

// logLevel is info, or what SELFSUP_LOG_LEVEL says (debug shows the plugin
// transport's lines too).
func logLevel() zerolog.Level {
	if l, err := zerolog.ParseLevel(os.Getenv("SELFSUP_LOG_LEVEL")); err == nil && l != zerolog.NoLevel {
		return l
	}
	return zerolog.InfoLevel
}

// kvFlags collects repeated KEY=VALUE flags (method.ParamsFlag).
type kvFlags = method.ParamsFlag

// flagExit is the exit status of a failed flag parse: 0 when help was
// asked for (-h, --help), 2 for a wrong flag.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// optUint is a flag that may be left unset (a recipe's value then holds);
// unlike a sentinel default it prints no "(default -1)" in --help.
type optUint struct {
	v   uint64
	set bool
}

func (o *optUint) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatUint(o.v, 10)
}

func (o *optUint) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a non-negative integer: %w", err)
	}
	o.v, o.set = v, true
	return nil
}

// parseArgs parses flags that may come before or after the positional
// arguments (selfsup export CKPT --out x) and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
