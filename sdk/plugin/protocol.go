package plugin

import (
	"context"
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"

	pb "github.com/selfsup/selfsup/proto/selfsup/v1"
)

// ProtocolVersion is the version of proto/selfsup/v1 this package speaks.
// Host and plugin agree on it through go-plugin's VersionedPlugins.
const ProtocolVersion = 1

// MaxMessageBytes is the largest gRPC message either side accepts: big
// batches of embeddings pass gRPC's 4 MiB default by far.
const MaxMessageBytes = math.MaxInt32

// pluginKey names the one go-plugin plugin a selfsup binary serves.
const pluginKey = "method"

// handshake is go-plugin's handshake: the cookie keeps a plugin binary from
// being run by hand by mistake. The protocol version is negotiated through
// versionedPlugins instead of ProtocolVersion.
func handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "SELFSUP_PLUGIN",
		MagicCookieValue: "selfsup-method-plugin",
	}
}

// versionedPlugins maps each protocol version to its plugin set; srv is
// nil on the host side.
func versionedPlugins(srv pb.MethodServiceServer) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {pluginKey: &grpcPlugin{srv: srv}},
	}
}

// grpcPlugin is the go-plugin glue: it registers the server in the plugin
// and hands the host a client.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv pb.MethodServiceServer
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterMethodServiceServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewMethodServiceClient(c), nil
}

// grpcServer builds the plugin's gRPC server with the raised message limit
// and a buffer pool sized for tensors.
func grpcServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		experimental.BufferPool(tensorBufferPool()),
	)
	return grpc.NewServer(opts...)
}

// dialOptions raise the host's message limit to match, with the same kind of
// buffer pool.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
		experimental.WithBufferPool(tensorBufferPool()),
	}
}

// tensorBufferPool is a gRPC buffer pool with a tier at every power of two
// from 256 B to 256 MiB. gRPC's default pool jumps from 32 KiB to 1 MiB and
// clears a pooled buffer's whole capacity on every Get, so a 128 KiB message
// of features cost a 1 MiB clear on each side of each call; here the clear
// is at most twice the message.
func tensorBufferPool() mem.BufferPool {
	exps := make([]uint8, 0, 21)
	for e := uint8(8); e <= 28; e++ {
		exps = append(exps, e)
	}
	p, err := mem.NewBinaryTieredBufferPool(exps...)
	if err != nil {
		return mem.DefaultBufferPool() // cannot happen with valid exponents
	}
	return p
}
