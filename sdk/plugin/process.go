package plugin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	pb "github.com/selfsup/selfsup/proto/selfsup/v1"
)

// processConfig says how to start a plugin process.
type processConfig struct {
	log          zerolog.Logger
	pin          *pin // nil: no lock applies
	unlocked     bool // List/Lock: run without a pin
	startTimeout time.Duration
}

// process is one running plugin binary and its gRPC client.
type process struct {
	name    string // the binary's file name
	path    string
	client  *goplugin.Client
	rpc     pb.MethodServiceClient
	version int
}

// pluginCommand runs a plugin binary with a single-threaded OpenBLAS by
// default: a method's matrix products (heads, losses on [N, D] features) are
// small, and OpenBLAS's worker threads keep spinning after each one, taking
// the cores the host's trunk needs (measured on 2 cores: the plugin's share
// of a SimCLR step fell from 14.7 % to 3.9 % with this). go-plugin appends
// the host's environment after this, so a user's own OPENBLAS_NUM_THREADS
// wins.
func pluginCommand(path string) *exec.Cmd {
	cmd := exec.Command(path)
	cmd.Env = []string{"OPENBLAS_NUM_THREADS=1"}
	return cmd
}

// startProcess starts the binary at path, negotiates the protocol over
// AutoMTLS gRPC and checks its SHA-256 against the pin (SecureConfig).
// Cancelling ctx stops the start and the process.
func startProcess(ctx context.Context, path string, cfg processConfig) (*process, error) {
	name := filepath.Base(path)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	if cfg.startTimeout <= 0 {
		cfg.startTimeout = time.Minute
	}
	hl := newZeroLogger(cfg.log, name)
	cc := &goplugin.ClientConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: versionedPlugins(nil),
		Cmd:              pluginCommand(abs),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hl,
		SyncStdout:       &lineWriter{log: func(l string) { hl.Info(l, "stream", "stdout") }},
		SyncStderr:       &lineWriter{log: func(l string) { hl.Warn(l, "stream", "stderr") }},
		GRPCDialOptions:  dialOptions(),
		StartTimeout:     cfg.startTimeout,
	}
	if cfg.pin != nil {
		cc.SecureConfig = &goplugin.SecureConfig{Checksum: cfg.pin.sum, Hash: sha256.New()}
	}
	c := goplugin.NewClient(cc)
	type started struct {
		rpc goplugin.ClientProtocol
		err error
	}
	ch := make(chan started, 1)
	go func() {
		rpc, err := c.Client()
		ch <- started{rpc, err}
	}()
	var s started
	select {
	case s = <-ch:
	case <-ctx.Done():
		c.Kill() // stops a start in progress, if the process exists yet
		<-ch
		c.Kill() // and the process a start that finished meanwhile left behind
		return nil, fmt.Errorf("plugin %s: start cancelled: %w", name, ctx.Err())
	}
	if s.err != nil {
		c.Kill()
		if errors.Is(s.err, goplugin.ErrChecksumsDoNotMatch) && cfg.pin != nil {
			have, _ := FileSHA256(abs)
			return nil, fmt.Errorf("%w: plugin %s (%s) changed while starting: SHA-256 %s, %s pins %x; run `selfsup plugin lock` if the change is intended", ErrLockMismatch, name, abs, have, cfg.pin.lockPath, cfg.pin.sum)
		}
		return nil, fmt.Errorf("plugin %s (%s) did not start as a selfsup plugin: %w; check that it calls plugin.Serve and was built against protocol version %d", name, abs, s.err, ProtocolVersion)
	}
	raw, err := s.rpc.Dispense(pluginKey)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	rpc, ok := raw.(pb.MethodServiceClient)
	if !ok {
		c.Kill()
		return nil, fmt.Errorf("plugin %s: dispensed %T, not a method client", name, raw)
	}
	return &process{name: name, path: abs, client: c, rpc: rpc, version: c.NegotiatedVersion()}, nil
}

// describe asks the process which methods it serves.
func (p *process) describe(ctx context.Context) ([]MethodInfo, error) {
	resp, err := p.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: Describe: %w", p.name, err)
	}
	if int(resp.ProtocolVersion) != p.version {
		return nil, fmt.Errorf("plugin %s: Describe says protocol %d, go-plugin negotiated %d; rebuild the plugin against this selfsup", p.name, resp.ProtocolVersion, p.version)
	}
	out := make([]MethodInfo, 0, len(resp.Methods))
	for _, m := range resp.Methods {
		spec, err := specFromProto(m.Spec)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: method %s: %w", p.name, m.Name, err)
		}
		out = append(out, MethodInfo{Name: m.Name, Summary: m.Summary, Spec: spec})
	}
	return out, nil
}

// exited reports whether the process is gone, waiting up to d for go-plugin
// to notice an exit that a failed call just revealed.
func (p *process) exited(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if p.client.Exited() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pid is the process id, or 0 when unknown.
func (p *process) pid() int {
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

func (p *process) kill() { p.client.Kill() }

// loggerFrom returns l, or the context's zerolog logger.
func loggerFrom(ctx context.Context, l *zerolog.Logger) *zerolog.Logger {
	if l != nil {
		return l
	}
	return zerolog.Ctx(ctx)
}
