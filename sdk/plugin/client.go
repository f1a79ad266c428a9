package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/selfsup/selfsup/proto/selfsup/v1"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Options configure Open. The zero value searches SearchDirs, honours
// ./selfsup-plugins.lock when it exists, and never restarts on its own.
type Options struct {
	// Method picks the method when Open is given a binary that serves
	// several; empty means the binary's only method.
	Method string
	// Dirs are searched for binaries when Open is given a method name;
	// empty means SearchDirs().
	Dirs []string
	// LockFile pins binaries by SHA-256; empty means DefaultLockFile in the
	// working directory, when it exists.
	LockFile string
	// RequireLock refuses to start any binary when there is no lock file.
	RequireLock bool
	// Logger receives go-plugin's and the plugin's log lines, tagged
	// plugin=<binary>; nil means zerolog.Ctx(ctx) of Open.
	Logger *zerolog.Logger
	// StartTimeout bounds a process start (default one minute).
	StartTimeout time.Duration
	// MaxRestarts is how many times a call that finds the process dead
	// restarts it (Restart) and retries before it returns the error.
	MaxRestarts int
}

// Method is a method.Method served by a plugin process. Callers cannot tell
// it from the method in process: same Spec, same Loss/Step/Save/Load
// semantics, gradients on the device and in the dtype of the features sent.
// Like every Method, it is not safe for concurrent use.
type Method struct {
	opts   Options
	log    zerolog.Logger
	path   string // the binary
	binary string // its file name
	name   string // the method
	spec   method.Spec

	proc   *process
	handle uint64

	setup    *method.SetupRequest // replayed by Restart
	saved    []byte               // the last state saved or loaded; replayed by Restart
	hasSaved bool
	dirty    bool // a training step changed the state since it was saved, loaded or set up
	restarts int
	closed   bool

	buf arena // request tensor bytes, reused across calls
}

var _ method.Method = (*Method)(nil)

// DiedError reports a plugin process that died (or became unreachable)
// during a call. Restart recovers from it.
type DiedError struct {
	// Plugin is the binary's file name, Method the method's name.
	Plugin, Method string
	// Call is the call in flight: Setup, Loss, Step, Save, Load.
	Call string
	// Err is the transport error that revealed it.
	Err error
	// StateLost says that training steps had changed the method's state
	// since it was last saved, loaded or set up: a restart alone cannot
	// bring it back, so the wrapper did not retry on its own.
	StateLost bool
}

func (e *DiedError) Error() string {
	if e.StateLost {
		return fmt.Sprintf("plugin %s (method %s) died during %s: %v; the method's state since it was last saved is lost: a training host restarts it, restores its last snapshot and replays the steps since (sdk/recovery), or resume the run from its last checkpoint", e.Plugin, e.Method, e.Call, e.Err)
	}
	return fmt.Sprintf("plugin %s (method %s) died during %s: %v; call Restart to start a new process and reload the last saved state, or set plugin.Options.MaxRestarts", e.Plugin, e.Method, e.Call, e.Err)
}

func (e *DiedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, method.ErrDied) true for a DiedError.
func (e *DiedError) Is(target error) bool { return target == method.ErrDied }

// remoteError is an error the plugin returned: its message reads as the
// plugin wrote it and status.FromError still finds its gRPC status.
type remoteError struct{ st *status.Status }

func (e remoteError) Error() string              { return e.st.Message() }
func (e remoteError) GRPCStatus() *status.Status { return e.st }

// Open starts the plugin that serves ref and opens the method. ref is a
// method name ("simclr", "curl"), searched in opts.Dirs among the binaries
// named selfsup-* (selfsup-<ref> first), a binary's file name
// ("selfsup-moco", with opts.Method), or a path to a binary (with a path
// separator). Every binary is checked against the lock file before it runs.
func Open(ctx context.Context, ref string, opts Options) (*Method, error) {
	log := *loggerFrom(ctx, opts.Logger)
	if strings.ContainsRune(ref, os.PathSeparator) || strings.ContainsRune(ref, '/') {
		if !isExecutable(ref) {
			return nil, fmt.Errorf("plugin %s is not an executable file; build it (make build) or fix the path", ref)
		}
		return openIn(ctx, ref, opts.Method, opts, log)
	}
	dirs := opts.Dirs
	if len(dirs) == 0 {
		dirs = SearchDirs()
	}
	all := candidates(dirs)
	// A binary named like ref serves it by convention: try those first.
	var first, rest []string
	for _, p := range all {
		switch filepath.Base(p) {
		case ref, BinaryPrefix + ref:
			first = append(first, p)
		default:
			rest = append(rest, p)
		}
	}
	var tried []error
	for _, p := range first {
		want := ref
		if filepath.Base(p) == ref {
			want = opts.Method
		}
		m, err := openIn(ctx, p, want, opts, log)
		if err == nil || errors.Is(err, ErrLockMismatch) || ctx.Err() != nil {
			return m, err
		}
		tried = append(tried, err)
	}
	for _, p := range rest {
		m, err := openIn(ctx, p, ref, opts, log)
		if err == nil || errors.Is(err, ErrLockMismatch) || ctx.Err() != nil {
			return m, err
		}
		tried = append(tried, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no plugin binaries (selfsup-*) in %v; build them (make build) or set %s", dirs, EnvPath)
	}
	return nil, fmt.Errorf("no plugin serves method %q in %v; run `selfsup plugin list` to see what is there: %w", ref, dirs, errors.Join(tried...))
}

// openIn opens method want (empty: the only one) of the binary at path.
func openIn(ctx context.Context, path, want string, opts Options, log zerolog.Logger) (*Method, error) {
	m := &Method{opts: opts, log: log, path: path, binary: filepath.Base(path), name: want}
	infos, err := m.start(ctx, true)
	if err != nil {
		return nil, err
	}
	if m.name == "" {
		if len(infos) != 1 {
			m.proc.kill()
			return nil, fmt.Errorf("plugin %s serves %v; say which with plugin.Options.Method", m.binary, names(infos))
		}
		m.name = infos[0].Name
	}
	if !slices.ContainsFunc(infos, func(i MethodInfo) bool { return i.Name == m.name }) {
		m.proc.kill()
		return nil, fmt.Errorf("plugin %s does not serve method %q (it serves %v)", m.binary, m.name, names(infos))
	}
	if err := m.open(ctx); err != nil {
		m.proc.kill()
		return nil, err
	}
	return m, nil
}

func names(infos []MethodInfo) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Name
	}
	return out
}

// start checks the lock, starts a process and, when describe, asks it what
// it serves.
func (m *Method) start(ctx context.Context, describe bool) ([]MethodInfo, error) {
	pin, err := lockFor(m.path, m.opts)
	if err != nil {
		return nil, err
	}
	p, err := startProcess(ctx, m.path, processConfig{log: m.log, pin: pin, startTimeout: m.opts.StartTimeout})
	if err != nil {
		return nil, err
	}
	m.proc = p
	if !describe {
		return nil, nil
	}
	infos, err := p.describe(ctx)
	if err != nil {
		p.kill()
		m.proc = nil
		return nil, err
	}
	return infos, nil
}

// open makes the method instance in the current process.
func (m *Method) open(ctx context.Context) error {
	resp, err := m.proc.rpc.Open(ctx, &pb.OpenRequest{Method: m.name})
	if err != nil {
		return m.callError(ctx, "Open", err)
	}
	spec, err := specFromProto(resp.Spec)
	if err != nil {
		return fmt.Errorf("plugin %s: method %s: %w", m.binary, m.name, err)
	}
	m.handle = resp.Handle
	m.spec = spec
	return nil
}

// Name is the method's name; Binary the plugin binary's path.
func (m *Method) Name() string   { return m.name }
func (m *Method) Binary() string { return m.path }

// ProtocolVersion is the protocol version negotiated with the process.
func (m *Method) ProtocolVersion() int {
	if m.proc == nil {
		return 0
	}
	return m.proc.version
}

// Spec returns the method's Spec as the plugin declared it.
func (m *Method) Spec() method.Spec { return m.spec }

// callError turns a failed call into an error naming the plugin, the method
// and the call: a cancelled context, a dead process (*DiedError), or the
// method's own error.
func (m *Method) callError(ctx context.Context, call string, err error) error {
	st := status.Convert(err)
	if c := st.Code(); c == codes.Canceled || c == codes.DeadlineExceeded {
		// The plugin may see the deadline (and reset the stream) a moment
		// before this process's timer fires: give the context that moment
		// before calling the process dead.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("plugin %s: method %s: %s: %w", m.binary, m.name, call, ctx.Err())
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		if m.proc != nil && !m.proc.exited(2*time.Second) {
			m.proc.kill() // unreachable but running: it cannot be trusted
		}
		return &DiedError{Plugin: m.binary, Method: m.name, Call: call, Err: remoteError{st}}
	}
	return fmt.Errorf("plugin %s: %w", m.binary, remoteError{st})
}

// invoke runs one call on the live process, restarting a dead one and
// retrying while opts.MaxRestarts allows.
func (m *Method) invoke(ctx context.Context, call string, f func(ctx context.Context) error) error {
	if m.closed {
		return fmt.Errorf("plugin %s: method %s: %s after Close; open it again", m.binary, m.name, call)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("plugin %s: method %s: %s: %w", m.binary, m.name, call, err)
	}
	for {
		if m.proc == nil {
			return &DiedError{Plugin: m.binary, Method: m.name, Call: call, Err: errors.New("no process (a restart failed)")}
		}
		err := f(ctx)
		if err == nil {
			return nil
		}
		var died *DiedError
		if !errors.As(err, &died) {
			return err
		}
		if m.dirty {
			// Restarting from the last save would silently drop the
			// steps since: leave that to a caller that can replay them.
			died.StateLost = true
			return err
		}
		if m.restarts >= m.opts.MaxRestarts {
			return err
		}
		m.restarts++
		m.log.Warn().Str("plugin", m.binary).Str("method", m.name).Str("call", call).Err(err).
			Int("restart", m.restarts).Msg("plugin died; restarting it from the last saved state and retrying")
		if rerr := m.Restart(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
}

// Restart kills the plugin process (if it still runs), starts a new one,
// opens the method, replays the last Setup and Loads the last state passed
// to Save or Load. Without a saved state the method restarts freshly set up.
// Training steps taken since that state are not replayed: a training host
// Loads its own snapshot after Restart and replays them (sdk/recovery).
func (m *Method) Restart(ctx context.Context) error {
	if m.closed {
		return fmt.Errorf("plugin %s: method %s: Restart after Close; open it again", m.binary, m.name)
	}
	if m.proc != nil {
		m.proc.kill()
		m.proc = nil
	}
	if _, err := m.start(ctx, false); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := m.open(ctx); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if m.setup != nil {
		resp, err := m.proc.rpc.Setup(ctx, setupToProto(m.handle, *m.setup, nil))
		if err != nil {
			return fmt.Errorf("restart: replay Setup: %w", m.callError(ctx, "Setup", err))
		}
		if err := m.setupSpec(resp.Spec); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
	}
	if m.hasSaved {
		if _, err := m.proc.rpc.Load(ctx, &pb.LoadRequest{Handle: m.handle, State: m.saved}); err != nil {
			return fmt.Errorf("restart: reload saved state: %w", m.callError(ctx, "Load", err))
		}
	}
	m.dirty = false
	m.log.Info().Str("plugin", m.binary).Str("method", m.name).Int("pid", m.proc.pid()).
		Bool("state_reloaded", m.hasSaved).Msg("plugin restarted")
	return nil
}

// PID is the plugin process's id, or 0 when no process runs.
func (m *Method) PID() int {
	if m.proc == nil {
		return 0
	}
	return m.proc.pid()
}

func setupToProto(handle uint64, req method.SetupRequest, cfg map[string]*pb.Value) *pb.SetupRequest {
	if cfg == nil {
		cfg, _ = paramsToProto(req.Config) // checked when Setup first ran
	}
	return &pb.SetupRequest{
		Handle:      handle,
		FeatureDims: shapesToProto(req.FeatureDims),
		Config:      cfg,
		NumSamples:  req.NumSamples,
		TotalSteps:  req.TotalSteps,
		Device:      req.Device,
		Seed:        req.Seed,
	}
}

// Setup builds the method in the plugin process.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	cfg, err := paramsToProto(req.Config)
	if err != nil {
		return method.SetupResponse{}, fmt.Errorf("plugin %s: method %s: Setup config: %w", m.binary, m.name, err)
	}
	var resp *pb.SetupResponse
	err = m.invoke(ctx, "Setup", func(ctx context.Context) error {
		var err error
		resp, err = m.proc.rpc.Setup(ctx, setupToProto(m.handle, req, cfg))
		if err != nil {
			return m.callError(ctx, "Setup", err)
		}
		return nil
	})
	if err != nil {
		return method.SetupResponse{}, err
	}
	if err := m.setupSpec(resp.Spec); err != nil {
		return method.SetupResponse{}, err
	}
	saved := req
	saved.FeatureDims = maps.Clone(req.FeatureDims)
	saved.Config = maps.Clone(req.Config)
	m.setup = &saved
	m.saved, m.hasSaved, m.dirty = nil, false, false // a new Setup starts afresh
	return method.SetupResponse{Parameters: resp.Parameters}, nil
}

// setupSpec takes the Spec a Setup reply carries (the method's as set up),
// when the plugin sends one.
func (m *Method) setupSpec(p *pb.Spec) error {
	if p == nil {
		return nil // an older plugin: the Spec of Open stands
	}
	spec, err := specFromProto(p)
	if err != nil {
		return m.replyError("Setup", fmt.Sprintf("a bad spec: %v", err))
	}
	m.spec = spec
	return nil
}

// Loss evaluates the method's loss in the plugin. Float inputs cross in their
// own dtype (float64 stays float64), and the gradients come back in it, on
// the inputs' device.
//
// Tensor work is pinned to one OS thread (gotch's error slot is per thread);
// the wait for the plugin is not, so that the goroutine parks cheaply.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	params, err := paramsToProto(in.Params)
	if err != nil {
		return method.LossOutput{}, m.inputError("Loss params", err)
	}
	m.buf.reset(tensorsBytes(in.Inputs, in.IntInputs))
	req := &pb.LossRequest{Handle: m.handle, Params: params, Detached: in.Detached}
	tensor.Pinned(func() {
		if req.Inputs, err = tensorsToProto(in.Inputs, &m.buf); err != nil {
			err = m.inputError("Loss inputs", err)
			return
		}
		if req.IntInputs, err = tensorsToProto(in.IntInputs, &m.buf); err != nil {
			err = m.inputError("Loss int inputs", err)
		}
	})
	if err != nil {
		return method.LossOutput{}, err
	}
	var resp *pb.LossResponse
	err = m.invoke(ctx, "Loss", func(ctx context.Context) error {
		req.Handle = m.handle
		var err error
		if resp, err = m.proc.rpc.Loss(ctx, req); err != nil {
			return m.callError(ctx, "Loss", err)
		}
		return nil
	})
	if err != nil {
		return method.LossOutput{}, err
	}
	var out method.LossOutput
	tensor.Pinned(func() { out, err = m.decodeLoss(in, resp) })
	return out, err
}

func (m *Method) decodeLoss(in method.LossInput, resp *pb.LossResponse) (method.LossOutput, error) {
	if !finite(resp.Loss) {
		return method.LossOutput{}, m.replyError("Loss", fmt.Sprintf("a non-finite loss %v", resp.Loss))
	}
	var want []string
	for k := range in.Inputs {
		if !in.IsDetached(k) {
			want = append(want, k)
		}
	}
	for k := range resp.Grads {
		if in.IsDetached(k) {
			delete(resp.Grads, k) // a zero gradient some methods send anyway
		}
	}
	grads, err := m.replyTensors("Loss", "gradient", resp.Grads, in.Inputs, want)
	if err != nil {
		return method.LossOutput{}, err
	}
	state, err := tensorsFromProto(resp.State, deviceOf(in.Inputs))
	if err != nil {
		grads.Drop()
		return method.LossOutput{}, m.replyError("Loss", fmt.Sprintf("bad state: %v", err))
	}
	return method.LossOutput{Loss: resp.Loss, Grads: grads, State: state}, nil
}

// Step runs a training step in the plugin. The gradients come back in the
// features' dtype, on their device.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	extra := method.Tensors{}
	if req.SampleIDs != nil {
		extra["sample_ids"] = req.SampleIDs
	}
	m.buf.reset(tensorsBytes(req.Features, req.Labels, extra))
	preq := &pb.StepRequest{Handle: m.handle, Step: req.Step, Train: req.Train}
	var err error
	tensor.Pinned(func() {
		if preq.Features, err = tensorsToProto(req.Features, &m.buf); err != nil {
			err = m.inputError("Step features", err)
			return
		}
		if preq.Labels, err = tensorsToProto(req.Labels, &m.buf); err != nil {
			err = m.inputError("Step labels", err)
			return
		}
		if req.SampleIDs != nil {
			if preq.SampleIds, err = tensorToProto(req.SampleIDs, &m.buf); err != nil {
				err = m.inputError("Step sample ids", err)
			}
		}
	})
	if err != nil {
		return method.StepResponse{}, err
	}
	var resp *pb.StepResponse
	err = m.invoke(ctx, "Step", func(ctx context.Context) error {
		preq.Handle = m.handle
		var err error
		if resp, err = m.proc.rpc.Step(ctx, preq); err != nil {
			return m.callError(ctx, "Step", err)
		}
		return nil
	})
	if err != nil {
		return method.StepResponse{}, err
	}
	if req.Train {
		m.dirty = true
	}
	var out method.StepResponse
	tensor.Pinned(func() { out, err = m.decodeStep(req, resp) })
	return out, err
}

func (m *Method) decodeStep(req method.StepRequest, resp *pb.StepResponse) (method.StepResponse, error) {
	if !finite(resp.Loss) {
		return method.StepResponse{}, m.replyError("Step", fmt.Sprintf("a non-finite loss %v", resp.Loss))
	}
	var want []string
	for k := range req.Features {
		if !strings.HasSuffix(k, "@target") {
			want = append(want, k)
		}
	}
	grads, err := m.replyTensors("Step", "gradient", resp.Grads, req.Features, want)
	if err != nil {
		return method.StepResponse{}, err
	}
	return method.StepResponse{Loss: resp.Loss, Metrics: resp.Metrics, Grads: grads}, nil
}

// replyTensors decodes the gradients of a reply, checking that there is one
// for every name in want, none for a tensor not sent, and that each has the
// shape and dtype of the tensor it is the gradient of. Each lands on the
// device of its tensor.
func (m *Method) replyTensors(call, what string, got map[string]*pb.Tensor, sent method.Tensors, want []string) (method.Tensors, error) {
	for _, k := range want {
		if got[k] == nil {
			return nil, m.replyError(call, fmt.Sprintf("no %s for %q", what, k))
		}
	}
	out := make(method.Tensors, len(got))
	for _, k := range sortedKeys(got) {
		g := got[k]
		x, ok := sent[k]
		if !ok {
			out.Drop()
			return nil, m.replyError(call, fmt.Sprintf("a %s for %q, which the host did not send (sent %v)", what, k, sent.Names()))
		}
		wantDT, err := dtypeToProto(x.DType())
		if err != nil {
			out.Drop()
			return nil, m.replyError(call, fmt.Sprintf("%s %q: %v", what, k, err))
		}
		if g.Dtype != wantDT {
			out.Drop()
			return nil, m.replyError(call, fmt.Sprintf("%s %q of dtype %v, want %v (the dtype of the tensor sent)", what, k, g.Dtype, wantDT))
		}
		if shape := x.MustSize(); !slices.Equal(shape, g.Shape) {
			out.Drop()
			return nil, m.replyError(call, fmt.Sprintf("%s %q of shape %v, want %v (the shape of the tensor sent)", what, k, g.Shape, shape))
		}
		t, err := tensorFromProto(g, x.MustDevice())
		if err != nil {
			out.Drop()
			return nil, m.replyError(call, fmt.Sprintf("%s %q: %v", what, k, err))
		}
		out[k] = t
	}
	return out, nil
}

func (m *Method) replyError(call, what string) error {
	return fmt.Errorf("plugin %s: method %s: %s returned %s; the plugin is at fault: fix the method or rebuild the binary", m.binary, m.name, call, what)
}

func (m *Method) inputError(what string, err error) error {
	return fmt.Errorf("plugin %s: method %s: %s: %w", m.binary, m.name, what, err)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// deviceOf is the device of any tensor of m (the CPU when m is empty).
func deviceOf(m method.Tensors) gotch.Device {
	for _, t := range m {
		if t != nil {
			return t.MustDevice()
		}
	}
	return gotch.CPU
}

// Save returns the method's state from the plugin and keeps a copy that
// Restart reloads.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	var resp *pb.SaveResponse
	err := m.invoke(ctx, "Save", func(ctx context.Context) error {
		var err error
		if resp, err = m.proc.rpc.Save(ctx, &pb.SaveRequest{Handle: m.handle}); err != nil {
			return m.callError(ctx, "Save", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.saved, m.hasSaved, m.dirty = resp.State, true, false
	return slices.Clone(resp.State), nil
}

// Load restores state in the plugin; Restart reloads it too.
func (m *Method) Load(ctx context.Context, state []byte) error {
	err := m.invoke(ctx, "Load", func(ctx context.Context) error {
		if _, err := m.proc.rpc.Load(ctx, &pb.LoadRequest{Handle: m.handle, State: state}); err != nil {
			return m.callError(ctx, "Load", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.saved, m.hasSaved, m.dirty = slices.Clone(state), true, false
	return nil
}

// Close frees the method in the plugin and stops the process.
func (m *Method) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	if m.proc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := m.proc.rpc.Close(ctx, &pb.CloseRequest{Handle: m.handle})
	m.proc.kill()
	m.proc = nil
	if err != nil && status.Code(err) != codes.Unavailable {
		return fmt.Errorf("plugin %s: method %s: Close: %w", m.binary, m.name, remoteError{status.Convert(err)})
	}
	return nil
}
