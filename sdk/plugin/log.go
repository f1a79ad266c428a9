package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// Logs cross the process boundary as go-plugin intends: the plugin writes
// hclog JSON lines to its stderr, go-plugin on the host parses each line and
// hands it to the host's hclog.Logger, which here is zeroLogger, a bridge to
// the host's zerolog logger. Inside the plugin, methods log with zerolog
// (zerolog.Ctx(ctx)); hclogWriter turns those events into hclog lines. One
// zerolog stream on the host thus shows both sides, plugin lines tagged
// plugin=<binary name>.

// hclogWriter is a zerolog output that re-emits each JSON event through an
// hclog logger (the plugin side of the bridge).
type hclogWriter struct{ l hclog.Logger }

func (w hclogWriter) Write(p []byte) (int, error) {
	var ev map[string]any
	if err := json.Unmarshal(p, &ev); err != nil {
		w.l.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	}
	lvl, _ := ev[zerolog.LevelFieldName].(string)
	msg, _ := ev[zerolog.MessageFieldName].(string)
	delete(ev, zerolog.LevelFieldName)
	delete(ev, zerolog.MessageFieldName)
	delete(ev, zerolog.TimestampFieldName)
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, ev[k])
	}
	w.l.Log(hclogLevel(lvl), msg, args...)
	return len(p), nil
}

func hclogLevel(zl string) hclog.Level {
	switch zl {
	case "trace":
		return hclog.Trace
	case "debug":
		return hclog.Debug
	case "warn":
		return hclog.Warn
	case "error", "fatal", "panic":
		return hclog.Error
	}
	return hclog.Info
}

// zeroLogger is an hclog.Logger that writes to a zerolog logger (the host
// side of the bridge). go-plugin logs its own events and every line the
// plugin writes to stderr through it.
type zeroLogger struct {
	zl      zerolog.Logger
	name    string
	implied []any
}

func newZeroLogger(zl zerolog.Logger, plugin string) *zeroLogger {
	return &zeroLogger{zl: zl.With().Str("plugin", plugin).Logger()}
}

var _ hclog.Logger = (*zeroLogger)(nil)

func zerologLevel(l hclog.Level) zerolog.Level {
	switch l {
	case hclog.Trace:
		return zerolog.TraceLevel
	case hclog.Debug:
		return zerolog.DebugLevel
	case hclog.Warn:
		return zerolog.WarnLevel
	case hclog.Error:
		return zerolog.ErrorLevel
	case hclog.Off:
		return zerolog.Disabled
	}
	return zerolog.InfoLevel
}

func (z *zeroLogger) Log(level hclog.Level, msg string, args ...any) {
	ev := z.zl.WithLevel(zerologLevel(level))
	if ev == nil {
		return
	}
	if z.name != "" {
		ev = ev.Str("logger", z.name)
	}
	addArgs(ev, z.implied)
	addArgs(ev, args)
	ev.Msg(msg)
}

func addArgs(ev *zerolog.Event, args []any) {
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		if k == "plugin" { // go-plugin's own "plugin" is the binary's path
			k = "plugin_path"
		}
		switch v := args[i+1].(type) {
		case string:
			ev.Str(k, v)
		case error:
			ev.AnErr(k, v)
		default:
			ev.Interface(k, v)
		}
	}
	if len(args)%2 == 1 {
		ev.Interface("EXTRA_VALUE_AT_END", args[len(args)-1])
	}
}

func (z *zeroLogger) Trace(msg string, args ...any) { z.Log(hclog.Trace, msg, args...) }
func (z *zeroLogger) Debug(msg string, args ...any) { z.Log(hclog.Debug, msg, args...) }
func (z *zeroLogger) Info(msg string, args ...any)  { z.Log(hclog.Info, msg, args...) }
func (z *zeroLogger) Warn(msg string, args ...any)  { z.Log(hclog.Warn, msg, args...) }
func (z *zeroLogger) Error(msg string, args ...any) { z.Log(hclog.Error, msg, args...) }

func (z *zeroLogger) enabled(l zerolog.Level) bool {
	return z.zl.GetLevel() <= l && zerolog.GlobalLevel() <= l
}

func (z *zeroLogger) IsTrace() bool { return z.enabled(zerolog.TraceLevel) }
func (z *zeroLogger) IsDebug() bool { return z.enabled(zerolog.DebugLevel) }
func (z *zeroLogger) IsInfo() bool  { return z.enabled(zerolog.InfoLevel) }
func (z *zeroLogger) IsWarn() bool  { return z.enabled(zerolog.WarnLevel) }
func (z *zeroLogger) IsError() bool { return z.enabled(zerolog.ErrorLevel) }

func (z *zeroLogger) ImpliedArgs() []any { return z.implied }

func (z *zeroLogger) With(args ...any) hclog.Logger {
	c := *z
	c.implied = append(append([]any{}, z.implied...), args...)
	return &c
}

func (z *zeroLogger) Name() string { return z.name }

func (z *zeroLogger) Named(name string) hclog.Logger {
	c := *z
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (z *zeroLogger) ResetNamed(name string) hclog.Logger {
	c := *z
	c.name = name
	return &c
}

// SetLevel is a no-op: the zerolog logger's level rules.
func (z *zeroLogger) SetLevel(hclog.Level) {}

func (z *zeroLogger) GetLevel() hclog.Level {
	switch l := z.zl.GetLevel(); {
	case l <= zerolog.TraceLevel:
		return hclog.Trace
	case l == zerolog.DebugLevel:
		return hclog.Debug
	case l == zerolog.InfoLevel:
		return hclog.Info
	case l == zerolog.WarnLevel:
		return hclog.Warn
	case l == zerolog.Disabled:
		return hclog.Off
	}
	return hclog.Error
}

func (z *zeroLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(z.StandardWriter(opts), "", 0)
}

func (z *zeroLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{log: func(line string) { z.Info(line) }}
}

// lineWriter calls log once per complete line written to it (the plugin's
// raw stdout/stderr, synced by go-plugin).
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	log func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf.Next(i+1)), "\r\n")
		if line != "" {
			w.log(line)
		}
	}
	return len(p), nil
}
