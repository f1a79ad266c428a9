package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sync"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/selfsup/selfsup/proto/selfsup/v1"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Serve serves the given methods (a method family) as a selfsup plugin
// binary and returns when the host is done with it. The whole main of a
// plugin binary is one line:
//
//	func main() { plugin.Serve(simclr.Constructor()) }
//
// Methods log through zerolog.Ctx(ctx) in their calls; those lines reach the
// host's log stream, tagged with the plugin's name. Run by hand, the binary
// prints that it is a plugin and exits.
func Serve(ctors ...method.Constructor) {
	// libtorch's OpenMP threads must sleep, not spin, while the host works
	// (and the host's while the plugin works); the host passes its
	// environment on, but a plugin run by any host re-executes itself once
	// to be sure. Then use every CPU for the method's own ops.
	if err := backend.EnsurePassiveWait(); err != nil {
		fmt.Fprintln(os.Stderr, "selfsup plugin:", err)
	}
	backend.ConfigureThreads(0)
	hl := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr, JSONFormat: true})
	srv, err := newServer(ctors, zerolog.New(hclogWriter{hl}))
	if err != nil {
		hl.Error("selfsup plugin cannot start", "error", err.Error())
		os.Exit(1)
	}
	defer srv.closeAll()
	if path := os.Getenv(EnvCPUProfile); path != "" {
		if stop, err := startCPUProfile(path); err != nil {
			hl.Warn("no CPU profile", "error", err.Error())
		} else {
			defer stop()
		}
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: versionedPlugins(srv),
		GRPCServer:       grpcServer,
		Logger:           hl,
	})
}

// EnvCPUProfile, when set in a plugin's environment (the host's is passed
// on), names a file the plugin writes its CPU profile to when it stops:
// where the time goes on the plugin's side of the boundary.
const EnvCPUProfile = "SELFSUP_PLUGIN_CPUPROFILE"

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// server implements the protocol over in-process methods.
type server struct {
	pb.UnimplementedMethodServiceServer
	ctors map[string]method.Constructor
	infos []*pb.MethodInfo
	log   zerolog.Logger

	mu    sync.Mutex
	next  uint64
	insts map[uint64]*instance

	trim trimmer
}

// trimmer hands the C heap's free memory back to the system when the
// process has grown to twice the most it held over the steps after the
// last trim. glibc keeps the memory of freed tensors for reuse, and with
// steps whose tensors vary in size it keeps more and more of it: CPC v2's
// plugin grew from 1.7 to 5 GB resident over one epoch while the memory
// its tensors held stayed flat. Trimming often bounds that tighter but
// faults the pages in again on the next steps (CPC v2's step went from
// about 1.5 to 2.1 s trimming every 10 s); a trim each time the process
// doubles costs one such step now and then.
type trimmer struct {
	mu    sync.Mutex
	base  int64 // the most resident bytes over the window after the last trim
	steps int   // steps since the last trim
	// rss and trim default to residentBytes and backend.TrimMalloc
	rss  func() int64
	trim func() bool
}

// trimWindow is how many steps after a trim (or the start) set the base.
const trimWindow = 20

// minTrimBytes is the resident size below which the process never trims.
const minTrimBytes = 1 << 30

func (t *trimmer) maybe() {
	read, trim := t.rss, t.trim
	if read == nil {
		read = residentBytes
	}
	if trim == nil {
		trim = backend.TrimMalloc
	}
	rss := read()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps++
	if t.steps <= trimWindow {
		t.base = max(t.base, rss)
		return
	}
	if rss < minTrimBytes || rss < 2*t.base {
		return
	}
	trim()
	t.base, t.steps = 0, 0
}

// residentBytes is this process's resident set (0 where it cannot be read).
func residentBytes() int64 {
	n, _ := backend.ResidentBytes()
	return n
}

// instance is one opened method; its mutex serialises calls on it.
type instance struct {
	mu   sync.Mutex
	name string
	m    method.Method
	dev  gotch.Device
	log  zerolog.Logger
}

func newServer(ctors []method.Constructor, log zerolog.Logger) (*server, error) {
	if len(ctors) == 0 {
		return nil, errors.New("plugin.Serve was given no methods; pass at least one method.Constructor")
	}
	s := &server{ctors: map[string]method.Constructor{}, insts: map[uint64]*instance{}, log: log}
	for _, c := range ctors {
		if c.Name == "" || c.New == nil {
			return nil, fmt.Errorf("constructor %+v needs a Name and a New function", c)
		}
		if _, dup := s.ctors[c.Name]; dup {
			return nil, fmt.Errorf("method %q is served twice; give each constructor its own name", c.Name)
		}
		s.ctors[c.Name] = c
		m := c.New()
		spec, err := specToProto(m.Spec())
		_ = m.Close()
		if err != nil {
			return nil, fmt.Errorf("method %s: %w", c.Name, err)
		}
		s.infos = append(s.infos, &pb.MethodInfo{Name: c.Name, Summary: c.Summary, Spec: spec})
	}
	return s, nil
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, in := range s.insts {
		in.mu.Lock()
		_ = in.m.Close()
		in.mu.Unlock()
		delete(s.insts, h)
	}
}

// acquire returns the locked instance of handle; the caller unlocks it.
func (s *server) acquire(handle uint64) (*instance, error) {
	s.mu.Lock()
	in, ok := s.insts[handle]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no open method with handle %d; call Open first", handle)
	}
	in.mu.Lock()
	return in, nil
}

// guard runs a method call, turning a panic into an error so that one bad
// call does not take the process (and every other instance) down.
func guard(in *instance, call string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			in.log.Error().Str("call", call).Str("stack", string(debug.Stack())).Msgf("method panicked: %v", r)
			err = status.Errorf(codes.Internal, "method %s: %s panicked: %v", in.name, call, r)
		}
	}()
	if err := f(); err != nil {
		if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
			return err
		}
		return status.Errorf(codes.Unknown, "method %s: %s: %v", in.name, call, err)
	}
	return nil
}

func badRequest(call string, err error) error {
	return status.Errorf(codes.InvalidArgument, "%s: %v", call, err)
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{ProtocolVersion: ProtocolVersion, Methods: s.infos}, nil
}

// Open serves Method.Open, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Open(ctx context.Context, req *pb.OpenRequest) (resp *pb.OpenResponse, err error) {
	tensor.Pinned(func() { resp, err = s.open(ctx, req) })
	return resp, err
}

func (s *server) open(_ context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	c, ok := s.ctors[req.Method]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "this plugin does not serve method %q (it serves %v)", req.Method, sortedKeys(s.ctors))
	}
	in := &instance{name: c.Name, dev: gotch.CPU, log: s.log.With().Str("method", c.Name).Logger()}
	var spec *pb.Spec
	if err := guard(in, "Open", func() error {
		in.m = c.New()
		var err error
		spec, err = specToProto(in.m.Spec())
		return err
	}); err != nil {
		if in.m != nil {
			_ = in.m.Close()
		}
		return nil, err
	}
	s.mu.Lock()
	s.next++
	h := s.next
	s.insts[h] = in
	s.mu.Unlock()
	return &pb.OpenResponse{Handle: h, Spec: spec}, nil
}

// Setup serves Method.Setup, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Setup(ctx context.Context, req *pb.SetupRequest) (resp *pb.SetupResponse, err error) {
	tensor.Pinned(func() { resp, err = s.setup(ctx, req) })
	return resp, err
}

func (s *server) setup(ctx context.Context, req *pb.SetupRequest) (*pb.SetupResponse, error) {
	in, err := s.acquire(req.Handle)
	if err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	cfg, err := paramsFromProto(req.Config)
	if err != nil {
		return nil, badRequest("Setup", err)
	}
	dev, err := tensor.ParseDevice(req.Device)
	if err != nil {
		return nil, badRequest("Setup", err)
	}
	var resp method.SetupResponse
	err = guard(in, "Setup", func() error {
		var err error
		resp, err = in.m.Setup(in.log.WithContext(ctx), method.SetupRequest{
			FeatureDims: shapesFromProto(req.FeatureDims),
			Config:      cfg,
			NumSamples:  req.NumSamples,
			TotalSteps:  req.TotalSteps,
			Device:      req.Device,
			Seed:        req.Seed,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	in.dev = dev
	spec, err := specToProto(in.m.Spec())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Setup: the method's spec: %v", err)
	}
	return &pb.SetupResponse{Parameters: resp.Parameters, Spec: spec}, nil
}

// Loss serves Method.Loss, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Loss(ctx context.Context, req *pb.LossRequest) (resp *pb.LossResponse, err error) {
	tensor.Pinned(func() { resp, err = s.loss(ctx, req) })
	return resp, err
}

func (s *server) loss(ctx context.Context, req *pb.LossRequest) (*pb.LossResponse, error) {
	in, err := s.acquire(req.Handle)
	if err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	inputs, err := tensorsFromProto(req.Inputs, in.dev)
	if err != nil {
		return nil, badRequest("Loss inputs", err)
	}
	defer inputs.Drop()
	ints, err := tensorsFromProto(req.IntInputs, in.dev)
	if err != nil {
		return nil, badRequest("Loss int inputs", err)
	}
	defer ints.Drop()
	params, err := paramsFromProto(req.Params)
	if err != nil {
		return nil, badRequest("Loss params", err)
	}
	var out method.LossOutput
	err = guard(in, "Loss", func() error {
		var err error
		out, err = in.m.Loss(in.log.WithContext(ctx), method.LossInput{Inputs: inputs, IntInputs: ints, Params: params, Detached: req.Detached})
		return err
	})
	if err != nil {
		return nil, err
	}
	defer out.Drop()
	a := &arena{}
	a.reset(tensorsBytes(out.Grads, out.State))
	resp := &pb.LossResponse{Loss: out.Loss}
	if resp.Grads, err = tensorsToProto(out.Grads, a); err != nil {
		return nil, status.Errorf(codes.Internal, "method %s: Loss grads: %v", in.name, err)
	}
	if resp.State, err = tensorsToProto(out.State, a); err != nil {
		return nil, status.Errorf(codes.Internal, "method %s: Loss state: %v", in.name, err)
	}
	return resp, nil
}

// Step serves Method.Step, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Step(ctx context.Context, req *pb.StepRequest) (resp *pb.StepResponse, err error) {
	tensor.Pinned(func() { resp, err = s.step(ctx, req) })
	return resp, err
}

func (s *server) step(ctx context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	in, err := s.acquire(req.Handle)
	if err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	feats, err := tensorsFromProto(req.Features, in.dev)
	if err != nil {
		return nil, badRequest("Step features", err)
	}
	defer feats.Drop()
	labels, err := tensorsFromProto(req.Labels, in.dev)
	if err != nil {
		return nil, badRequest("Step labels", err)
	}
	defer labels.Drop()
	var ids *ts.Tensor
	if req.SampleIds != nil {
		if ids, err = tensorFromProto(req.SampleIds, in.dev); err != nil {
			return nil, badRequest("Step sample ids", err)
		}
		defer ids.MustDrop()
	}
	var out method.StepResponse
	err = guard(in, "Step", func() error {
		var err error
		out, err = in.m.Step(in.log.WithContext(ctx), method.StepRequest{Step: req.Step, Train: req.Train, Features: feats, Labels: labels, SampleIDs: ids})
		return err
	})
	if err != nil {
		return nil, err
	}
	defer s.trim.maybe()
	defer out.Grads.Drop()
	a := &arena{}
	a.reset(tensorsBytes(out.Grads))
	resp := &pb.StepResponse{Loss: out.Loss, Metrics: out.Metrics}
	if resp.Grads, err = tensorsToProto(out.Grads, a); err != nil {
		return nil, status.Errorf(codes.Internal, "method %s: Step grads: %v", in.name, err)
	}
	return resp, nil
}

// Save serves Method.Save, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Save(ctx context.Context, req *pb.SaveRequest) (resp *pb.SaveResponse, err error) {
	tensor.Pinned(func() { resp, err = s.save(ctx, req) })
	return resp, err
}

func (s *server) save(ctx context.Context, req *pb.SaveRequest) (*pb.SaveResponse, error) {
	in, err := s.acquire(req.Handle)
	if err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	var state []byte
	err = guard(in, "Save", func() error {
		var err error
		state, err = in.m.Save(in.log.WithContext(ctx))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.SaveResponse{State: state}, nil
}

// Load serves Method.Load, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Load(ctx context.Context, req *pb.LoadRequest) (resp *pb.LoadResponse, err error) {
	tensor.Pinned(func() { resp, err = s.load(ctx, req) })
	return resp, err
}

func (s *server) load(ctx context.Context, req *pb.LoadRequest) (*pb.LoadResponse, error) {
	in, err := s.acquire(req.Handle)
	if err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	err = guard(in, "Load", func() error { return in.m.Load(in.log.WithContext(ctx), req.State) })
	if err != nil {
		return nil, err
	}
	return &pb.LoadResponse{}, nil
}

// Close serves Method.Close, pinned to one OS thread (libtorch keeps grad
// mode and gotch its last error per thread).
func (s *server) Close(ctx context.Context, req *pb.CloseRequest) (resp *pb.CloseResponse, err error) {
	tensor.Pinned(func() { resp, err = s.close(ctx, req) })
	return resp, err
}

func (s *server) close(_ context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	in, ok := s.insts[req.Handle]
	delete(s.insts, req.Handle)
	s.mu.Unlock()
	if !ok {
		return &pb.CloseResponse{}, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := guard(in, "Close", in.m.Close); err != nil {
		return nil, err
	}
	return &pb.CloseResponse{}, nil
}
