package netns

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Port is one published port: HostIP:HostPort on the host forwards to
// ContainerPort of the container. Only TCP is supported.
type Port struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	// Spec is the text it was parsed from, for errors.
	Spec string
}

// HostAddr is the host address the port listens on.
func (p Port) HostAddr() netip.AddrPort { return netip.AddrPortFrom(p.HostIP, p.HostPort) }

func (p Port) String() string {
	return fmt.Sprintf("%s->%d/tcp", p.HostAddr(), p.ContainerPort)
}

// DefaultHostIP is where a port without an IP is published: loopback only,
// unlike docker, which binds 0.0.0.0.
var DefaultHostIP = netip.MustParseAddr("127.0.0.1")

// ParsePort parses docker's -p syntax: [IP:]HOSTPORT:CONTAINERPORT[/tcp],
// an IPv6 IP in brackets. Without IP the port is published on
// DefaultHostIP only.
func ParsePort(s string) (Port, error) {
	p := Port{Spec: s, HostIP: DefaultHostIP}
	bad := func(format string, args ...any) (Port, error) {
		return Port{}, fmt.Errorf("-p %q: %s (want [IP:]HOSTPORT:CONTAINERPORT[/tcp], e.g. 127.0.0.1:8080:80)", s, fmt.Sprintf(format, args...))
	}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		proto := strings.ToLower(rest[i+1:])
		rest = rest[:i]
		switch proto {
		case "tcp":
		case "udp", "sctp":
			return bad("%s is not supported: manyarch publishes TCP ports only", proto)
		default:
			return bad("unknown protocol %q", proto)
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return bad("no host port: manyarch does not pick one, give HOSTPORT:CONTAINERPORT")
	}
	cport, hostPart := rest[i+1:], rest[:i]
	hport := hostPart
	if j := strings.LastIndexByte(hostPart, ':'); j >= 0 {
		ip := hostPart[:j]
		hport = hostPart[j+1:]
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return bad("host IP %q is not an IP address", ip)
		}
		p.HostIP = a.Unmap()
	}
	num := func(what, v string) (uint16, error) {
		if strings.Contains(v, "-") {
			return 0, fmt.Errorf("%s %q: port ranges are not supported", what, v)
		}
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%s %q is not a port number 1-65535", what, v)
		}
		return uint16(n), nil
	}
	var err error
	if p.HostPort, err = num("host port", hport); err != nil {
		return bad("%v", err)
	}
	if p.ContainerPort, err = num("container port", cport); err != nil {
		return bad("%v", err)
	}
	return p, nil
}
