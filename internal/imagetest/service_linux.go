package imagetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/manyarch/manyarch/internal/container"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/sandbox"
)

var _ serviceHoster = (*SandboxExecutor)(nil)

// loopback is where service ports are published.
var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// hostService publishes containerPort on 127.0.0.1:hostPort (a free port
// when 0) with netns's proxy, which stays for every container the
// service's restarts start, and returns the host of t's containers.
func (x *SandboxExecutor) hostService(ctx context.Context, t Target, containerPort, hostPort int) (serviceHost, error) {
	root, err := x.rootfs(ctx, t)
	if err != nil {
		return nil, err
	}
	px, err := listenLoopback(containerPort, hostPort)
	if err != nil {
		return nil, err
	}
	return &sandboxHost{x: x, root: root, proxy: px}, nil
}

// listenLoopback listens on 127.0.0.1:hostPort for containerPort; with
// hostPort 0 it picks a free port, and tries another when something took
// it meanwhile.
func listenLoopback(containerPort, hostPort int) (*netns.Proxy, error) {
	for attempt := 0; ; attempt++ {
		hp := hostPort
		if hp == 0 {
			var err error
			if hp, err = freeLoopbackPort(); err != nil {
				return nil, err
			}
		}
		port := netns.Port{HostIP: loopback, HostPort: uint16(hp), ContainerPort: uint16(containerPort),
			Spec: fmt.Sprintf("127.0.0.1:%d:%d", hp, containerPort)}
		px, err := netns.Listen([]netns.Port{port})
		if err == nil {
			return px, nil
		}
		if hostPort != 0 {
			return nil, fmt.Errorf("hostPort %d: %w; or leave hostPort out (0) for a free port", hostPort, err)
		}
		if attempt == 2 {
			return nil, err
		}
	}
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// sandboxHost starts a service's containers on a prepared root, in a
// private network namespace each, behind one proxy.
type sandboxHost struct {
	x     *SandboxExecutor
	root  *container.Rootfs
	proxy *netns.Proxy
}

func (h *sandboxHost) Address() netip.AddrPort { return h.proxy.Ports()[0].HostAddr() }

func (h *sandboxHost) Start(ctx context.Context, spec serviceSpec) (serviceProcess, error) {
	p, err := h.root.Start(ctx, sandbox.Spec{
		Args:        spec.Args,
		Env:         h.root.Env(spec.Env, nil),
		User:        spec.User,
		Dir:         spec.Dir,
		Network:     sandbox.NetworkPrivate,
		Publish:     h.proxy,
		Cgroup:      spec.Cgroup,
		Stdout:      spec.Output,
		Stderr:      spec.Output,
		StopSignal:  syscall.SIGTERM,
		StopTimeout: stopGrace,
		Logger:      h.x.logger,
	})
	if err != nil {
		var ee *sandbox.ExecError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%w: check entrypoint/cmd", err)
		}
		return nil, err
	}
	return sandboxProcess{p}, nil
}

func (h *sandboxHost) Close() error { return h.proxy.Close() }

type sandboxProcess struct{ p *container.Process }

func (s sandboxProcess) Pid() int              { return s.p.Pid() }
func (s sandboxProcess) Done() <-chan struct{} { return s.p.Done() }

func (s sandboxProcess) Wait() (int, error) {
	res, err := s.p.Wait()
	if res.Stopped {
		return -1, err
	}
	return res.ExitCode, err
}
