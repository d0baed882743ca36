package netns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proxy forwards connections to published ports to the container, as
// docker-proxy does.
type Proxy struct {
	ports []Port
	lns   []net.Listener

	target  atomic.Pointer[netip.Addr]
	started sync.Once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// dialTimeout bounds a connection to the container.
const dialTimeout = 5 * time.Second

// Listen listens on the host address of every port. A port that cannot be
// listened on (already in use, an address the host does not have) is an
// error naming it, and nothing is left listening.
func Listen(ports []Port) (*Proxy, error) {
	p := &Proxy{ports: ports, conns: map[net.Conn]struct{}{}}
	seen := map[netip.AddrPort]string{}
	for _, port := range ports {
		if prev, dup := seen[port.HostAddr()]; dup {
			p.Close()
			return nil, fmt.Errorf("-p %q and -p %q both publish %s: give each a different host port", prev, port.Spec, port.HostAddr())
		}
		seen[port.HostAddr()] = port.Spec
		ln, err := net.Listen("tcp", port.HostAddr().String())
		if err != nil {
			p.Close()
			switch {
			case errors.Is(err, syscall.EADDRINUSE):
				return nil, fmt.Errorf("-p %q: host port %s is already in use: stop what listens there (ss -ltnp 'sport = :%d') or publish on another host port", port.Spec, port.HostAddr(), port.HostPort)
			case errors.Is(err, syscall.EADDRNOTAVAIL):
				return nil, fmt.Errorf("-p %q: %s is not an address of this host: give one of its addresses, or none for 127.0.0.1", port.Spec, port.HostIP)
			case errors.Is(err, syscall.EACCES):
				return nil, fmt.Errorf("-p %q: listening on %s: %w (ports below 1024 need root)", port.Spec, port.HostAddr(), err)
			}
			return nil, fmt.Errorf("-p %q: listening on %s: %w", port.Spec, port.HostAddr(), err)
		}
		p.lns = append(p.lns, ln)
	}
	return p, nil
}

// Ports are the published ports.
func (p *Proxy) Ports() []Port { return p.ports }

// Start forwards the connections of every port to container, at the
// port's ContainerPort. A connection the container refuses is closed.
// Starting again (a second container run for the same ports) moves the
// forwarding to the new address.
func (p *Proxy) Start(container netip.Addr) {
	p.target.Store(&container)
	p.started.Do(func() {
		for i, ln := range p.lns {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(ln, p.ports[i].ContainerPort)
			}()
		}
	})
}

// Stop stops forwarding to container, when it is still the target: the
// container has exited and its link is gone, so its address no longer
// routes into a namespace of manyarch's (a dial would leave through the
// host's default route). Until a Start for a new container, connections are
// accepted and closed at once, as to a refused port. A target a later Start
// set is left alone.
func (p *Proxy) Stop(container netip.Addr) {
	if cur := p.target.Load(); cur != nil && *cur == container {
		p.target.CompareAndSwap(cur, nil)
	}
}

func (p *Proxy) serve(ln net.Listener, port uint16) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A temporary error (EMFILE...): back off as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !p.track(c) {
			c.Close()
			return
		}
		addr := p.target.Load()
		if addr == nil { // stopped: the container is gone
			p.untrack(c)
			continue
		}
		target := net.JoinHostPort(addr.String(), strconv.Itoa(int(port)))
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.forward(c, target)
		}()
	}
}

func (p *Proxy) forward(c net.Conn, target string) {
	d, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		return
	}
	if !p.track(d) {
		d.Close()
		return
	}
	defer p.untrack(d)
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Pass the half-close on, so request/response protocols finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(d, c)
	go pipe(c, d)
	wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Close stops listening, closes every forwarded connection and waits for
// the forwarding to end.
func (p *Proxy) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	for _, ln := range p.lns {
		ln.Close()
	}
	p.wg.Wait()
	return nil
}
