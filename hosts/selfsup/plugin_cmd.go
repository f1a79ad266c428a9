package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"github.com/selfsup/selfsup/plugins"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
)

const pluginUsage = `Usage: selfsup plugin COMMAND [flags] [ARGS]

Commands:
  list [DIR...]                   list plugin binaries: methods, protocol version, SHA-256
  lock [--out FILE] [DIR...]      pin every plugin binary's SHA-256 in a lock file
  check [--cases DIR] PLUGIN...   run the conformance cases of the methods PLUGIN serves,
                                  out of process, through Loss in float64
  params [--in-process] METHOD... the hyper-parameters a method takes (--set NAME=VALUE,
                                  a recipe's method section): default and what each does

DIRs default to $SELFSUP_PLUGIN_PATH, the repository's bin/ and the folder of
this executable. A PLUGIN is a binary's path, its name (selfsup-moco) or a
method name (curl).`

// runPlugin is `selfsup plugin`: args start with its subcommand.
func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, pluginUsage)
		return 0
	}
	// go-plugin's and the plugins' own log lines go to stderr, warnings up.
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	ctx = log.WithContext(ctx)
	switch args[0] {
	case "list":
		return pluginList(ctx, args[1:], stdout, stderr)
	case "lock":
		return pluginLock(ctx, args[1:], stdout, stderr)
	case "check":
		return pluginCheck(ctx, args[1:], stdout, stderr)
	case "params":
		return pluginParams(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "selfsup plugin: unknown command %q\n\n%s\n", args[0], pluginUsage)
	return 2
}

func pluginFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("plugin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

func pluginList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pluginFlags("list", "Usage: selfsup plugin list [DIR...]\n\nStarts every selfsup-* binary in the folders, asks what it serves and prints a table.", stderr)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	dirs := fs.Args()
	bins, err := plugin.List(ctx, dirs)
	if err != nil {
		fmt.Fprintln(stderr, "selfsup plugin list:", err)
		return 1
	}
	if len(bins) == 0 {
		if len(dirs) == 0 {
			dirs = plugin.SearchDirs()
		}
		fmt.Fprintf(stderr, "selfsup plugin list: no plugin binaries (selfsup-*) in %s; build them with `make build` or set %s\n", strings.Join(dirs, ", "), plugin.EnvPath)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BINARY\tMETHODS\tPROTOCOL\tSHA-256\tPATH")
	for _, b := range bins {
		if b.Err != nil {
			fmt.Fprintf(stderr, "%s: not a selfsup plugin: %v\n", b.Path, b.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", b.Name, strings.Join(b.MethodNames(), ","), b.ProtocolVersion, b.SHA256, b.Path)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "selfsup plugin list:", err)
		return 1
	}
	return 0
}

func pluginLock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pluginFlags("lock", "Usage: selfsup plugin lock [--out FILE] [DIR...]\n\nPins the SHA-256 of every plugin binary in the folders; hosts then refuse a binary that differs.", stderr)
	out := fs.String("out", plugin.DefaultLockFile, "lock file to write")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	l, err := plugin.Lock(ctx, *out, fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "selfsup plugin lock:", err)
		return 1
	}
	for _, name := range l.Names() {
		e := l.Plugins[name]
		fmt.Fprintf(stdout, "%s  %s  %s\n", e.SHA256, name, strings.Join(e.Methods, ","))
	}
	fmt.Fprintf(stdout, "locked %d plugin(s) in %s\n", len(l.Plugins), *out)
	if len(l.Plugins) == 0 {
		fmt.Fprintln(stderr, "selfsup plugin lock: no plugin binaries found; build them with `make build` or pass their folders")
		return 1
	}
	return 0
}

func pluginCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pluginFlags("check", "Usage: selfsup plugin check [--cases DIR] PLUGIN...\n\nRuns every conformance case of the methods each PLUGIN serves, out of process,\nthrough its Loss in float64; prints one line per case and \"N passed, M failed\".", stderr)
	casesDir := fs.String("cases", "", "folder of conformance case files (default $"+conformance.EnvCases+", else the golden cases built into selfsup)")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cases, err := conformance.LoadCases(*casesDir)
	if err != nil {
		fmt.Fprintln(stderr, "selfsup plugin check:", err)
		return 1
	}
	methods := map[string]method.Method{}
	defer func() {
		for _, m := range methods {
			m.Close()
		}
	}()
	for _, ref := range fs.Args() {
		opened, err := openForCheck(ctx, ref)
		if err != nil {
			fmt.Fprintln(stderr, "selfsup plugin check:", err)
			return 1
		}
		for _, m := range opened {
			if prev, dup := methods[m.Name()]; dup {
				fmt.Fprintf(stderr, "selfsup plugin check: method %s is served by both %s and %s; check them one at a time\n", m.Name(), prev.(*plugin.Method).Binary(), m.Binary())
				m.Close()
				return 1
			}
			methods[m.Name()] = m
			if len(conformance.ForMethod(cases, m.Name())) == 0 {
				fmt.Fprintf(stderr, "note: no conformance cases for method %s\n", m.Name())
			}
		}
	}
	var run []conformance.Case
	for _, c := range cases {
		if _, ok := methods[c.Method]; ok {
			run = append(run, c)
		}
	}
	if len(run) == 0 {
		fmt.Fprintf(stderr, "selfsup plugin check: no conformance case for any method served (%s); add case files or pass --cases\n", strings.Join(sortedNames(methods), ", "))
		return 1
	}
	_, failed := conformance.RunAll(ctx, stdout, conformance.Methods(methods), run)
	if failed > 0 {
		return 1
	}
	return 0
}

// openForCheck opens every method a binary serves (ref is its path or
// name), or the one method ref names.
func openForCheck(ctx context.Context, ref string) ([]*plugin.Method, error) {
	path := ""
	if strings.ContainsRune(ref, '/') || strings.ContainsRune(ref, os.PathSeparator) {
		path = ref
	} else {
		for _, b := range plugin.Binaries(nil) {
			if n := filepath.Base(b); n == ref || n == plugin.BinaryPrefix+ref {
				path = b
				break
			}
		}
	}
	if path == "" { // a method name served by some binary
		m, err := plugin.Open(ctx, ref, plugin.Options{})
		if err != nil {
			return nil, err
		}
		return []*plugin.Method{m}, nil
	}
	b := plugin.Describe(ctx, path)
	if b.Err != nil {
		return nil, b.Err
	}
	var out []*plugin.Method
	for _, name := range b.MethodNames() {
		m, err := plugin.Open(ctx, path, plugin.Options{Method: name})
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("open method %s of %s: %w", name, path, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func sortedNames(m map[string]method.Method) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func pluginParams(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pluginFlags("params", "Usage: selfsup plugin params [--in-process] METHOD...\n\nPrints the hyper-parameters of each METHOD (a method name, or a plugin binary's\npath or name for all its methods): name, kind, default and what it does.", stderr)
	inProcess := fs.Bool("in-process", false, "describe the built-in packages instead of the plugin binaries")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var specs []method.Spec
	for _, ref := range fs.Args() {
		if *inProcess {
			m, err := plugins.New(ref)
			if err != nil {
				fmt.Fprintln(stderr, "selfsup plugin params:", err)
				return 1
			}
			specs = append(specs, m.Spec())
			m.Close()
			continue
		}
		opened, err := openForCheck(ctx, ref)
		if err != nil {
			fmt.Fprintln(stderr, "selfsup plugin params:", err)
			return 1
		}
		for _, m := range opened {
			specs = append(specs, m.Spec())
			m.Close()
		}
	}
	for i, s := range specs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s\n", s.Name)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PARAM\tKIND\tDEFAULT\tDOC")
		names := make([]string, 0, len(s.Defaults))
		for k := range s.Defaults {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v := s.Defaults[k]
			fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\n", k, paramKind(v), v, s.Docs[k])
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintln(stderr, "selfsup plugin params:", err)
			return 1
		}
	}
	return 0
}

func paramKind(v any) string {
	switch v.(type) {
	case float64, float32:
		return "float"
	case int64, int:
		return "int"
	case bool:
		return "bool"
	case string:
		return "string"
	}
	return fmt.Sprintf("%T", v)
}
