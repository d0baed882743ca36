package netns

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "8080:80", want: "127.0.0.1:8080->80/tcp"},
		{in: "127.0.0.1:18080:8080", want: "127.0.0.1:18080->8080/tcp"},
		{in: "0.0.0.0:80:80/tcp", want: "0.0.0.0:80->80/tcp"},
		{in: "[::1]:8080:80", want: "[::1]:8080->80/tcp"},
		{in: "::1:8080:80", want: "[::1]:8080->80/tcp"},
		{in: "80", err: "no host port"},
		{in: "8080:80/udp", err: "udp is not supported"},
		{in: "8080:80/xyz", err: `unknown protocol "xyz"`},
		{in: "localhost:8080:80", err: `host IP "localhost" is not an IP address`},
		{in: "70000:80", err: `host port "70000" is not a port number`},
		{in: "8080:0", err: `container port "0" is not a port number`},
		{in: "8080-8081:80-81", err: "port ranges are not supported"},
	} {
		p, err := ParsePort(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("ParsePort(%q): error %v, want one naming the value and containing %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParsePort(%q): %v", tc.in, err)
		case p.String() != tc.want:
			t.Errorf("ParsePort(%q) = %s, want %s", tc.in, p, tc.want)
		}
	}
}

func TestListenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := uint16(busy.Addr().(*net.TCPAddr).Port)
	free := freePort(t)
	_, err = Listen([]Port{
		{HostIP: DefaultHostIP, HostPort: free, ContainerPort: 1, Spec: "first"},
		{HostIP: DefaultHostIP, HostPort: port, ContainerPort: 80, Spec: "busy"},
	})
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), strconv.Itoa(int(port))) {
		t.Fatalf("Listen on a port in use: %v, want an error naming it", err)
	}
	// Nothing is left listening: the first port is free again.
	ln, err := net.Listen("tcp", netip.AddrPortFrom(DefaultHostIP, free).String())
	if err != nil {
		t.Fatalf("the first port was left listening after the error: %v", err)
	}
	ln.Close()

	_, err = Listen([]Port{
		{HostIP: DefaultHostIP, HostPort: free, ContainerPort: 1, Spec: "a"},
		{HostIP: DefaultHostIP, HostPort: free, ContainerPort: 2, Spec: "b"},
	})
	if err == nil || !strings.Contains(err.Error(), "both publish") {
		t.Fatalf("Listen of one port twice: %v", err)
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestProxyForwards forwards to a server on another loopback address
// (standing in for the container) and checks the half-close reaches both
// ways and Close ends open connections.
func TestProxyForwards(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c) // until the client's half-close
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	sport := uint16(srv.Addr().(*net.TCPAddr).Port)
	hport := freePort(t)
	p, err := Listen([]Port{{HostIP: DefaultHostIP, HostPort: hport, ContainerPort: sport, Spec: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(netip.MustParseAddr("127.0.0.2"))
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(DefaultHostIP, hport).String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(b) != "HELLO" {
		t.Fatalf("through the proxy: %q, %v", b, err)
	}

	// Stopped (the container exited): a connection is closed at once and
	// nothing is dialled, even though the old address still answers here.
	p.Stop(netip.MustParseAddr("127.0.0.2"))
	c3, err := net.DialTimeout("tcp", netip.AddrPortFrom(DefaultHostIP, hport).String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c3.SetDeadline(time.Now().Add(10 * time.Second))
	c3.Write([]byte("hello"))
	c3.(*net.TCPConn).CloseWrite()
	if b, _ := io.ReadAll(c3); len(b) != 0 {
		t.Errorf("after Stop the proxy still forwarded: %q", b)
	}
	c3.Close()
	p.Start(netip.MustParseAddr("127.0.0.2")) // a restarted container

	// An open connection is closed by Close, which then returns.
	c2, err := net.DialTimeout("tcp", netip.AddrPortFrom(DefaultHostIP, hport).String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("x"))
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c2); err != nil {
		t.Errorf("reading a connection the proxy closed: %v", err)
	}
	if ln, err := net.Listen("tcp", netip.AddrPortFrom(DefaultHostIP, hport).String()); err != nil {
		t.Errorf("the port still listens after Close: %v", err)
	} else {
		ln.Close()
	}
}
