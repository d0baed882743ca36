package buildkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	bkclient "github.com/moby/buildkit/client"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/platform"
)

// DefaultDialTimeout bounds how long a node has to answer ListWorkers
// before a build (or builder ls) gives up on it.
const DefaultDialTimeout = 10 * time.Second

// maxTLSFile bounds a TLS file read to check it.
const maxTLSFile = 1 << 20

// checkTLS reads the node's TLS files, so a missing, unreadable or
// malformed one is named before any connection is tried.
func checkTLS(n builders.Node) error {
	read := func(flag, f string) ([]byte, error) {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s %s: %w", n.Name, flag, f, err)
		}
		if fi.Size() > maxTLSFile {
			return nil, fmt.Errorf("node %s: %s %s: larger than %d bytes: not a PEM file", n.Name, flag, f, maxTLSFile)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s %s: %w", n.Name, flag, f, err)
		}
		return b, nil
	}
	if n.TLS.CA != "" {
		b, err := read("--tls-ca", n.TLS.CA)
		if err != nil {
			return err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("node %s: --tls-ca %s: no PEM certificate in it", n.Name, n.TLS.CA)
		}
	}
	if n.TLS.Cert != "" || n.TLS.Key != "" {
		if n.TLS.Cert == "" || n.TLS.Key == "" {
			return fmt.Errorf("node %s: --tls-cert and --tls-key go together", n.Name)
		}
		cert, err := read("--tls-cert", n.TLS.Cert)
		if err != nil {
			return err
		}
		key, err := read("--tls-key", n.TLS.Key)
		if err != nil {
			return err
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return fmt.Errorf("node %s: --tls-cert %s with --tls-key %s: %w", n.Name, n.TLS.Cert, n.TLS.Key, err)
		}
	}
	return nil
}

// dial returns a client of n (the connection is made on first use).
func dial(ctx context.Context, n builders.Node) (*bkclient.Client, error) {
	if err := builders.CheckAddr(n.Addr); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	if err := checkTLS(n); err != nil {
		return nil, err
	}
	var opts []bkclient.ClientOpt
	if !n.TLS.IsZero() {
		u, err := url.Parse(n.Addr)
		if err != nil {
			return nil, err
		}
		if n.TLS.CA != "" {
			opts = append(opts, bkclient.WithServerConfig(u.Hostname(), n.TLS.CA))
		} else {
			opts = append(opts, bkclient.WithServerConfigSystem(u.Hostname()))
		}
		if n.TLS.Cert != "" {
			opts = append(opts, bkclient.WithCredentials(n.TLS.Cert, n.TLS.Key))
		}
	}
	c, err := bkclient.New(ctx, n.Addr, opts...)
	if err != nil {
		return nil, &NodeError{Node: n, Phase: "cannot be used", Err: err}
	}
	return c, nil
}

// Status is what a node reported when it was dialled.
type Status struct {
	Node builders.Node
	// Err is why the node is unusable (nil: reachable).
	Err error
	// Native are the platforms the node builds natively: Node.Platforms
	// when given, else its first worker's first platform.
	Native []specs.Platform
	// Platforms are every platform its workers report (emulated ones too).
	Platforms []specs.Platform
	// Version is the BuildKit version of its first worker ("v0.34.2").
	Version string
}

// Reachable reports whether the node answered.
func (s Status) Reachable() bool { return s.Err == nil }

// Probe dials n and lists its workers, within timeout (<= 0:
// DefaultDialTimeout). It never fails: the Status says why a node is
// unusable.
func Probe(ctx context.Context, n builders.Node, timeout time.Duration) Status {
	st := Status{Node: n}
	c, err := dial(ctx, n)
	if err != nil {
		st.Err = err
		return st
	}
	defer c.Close()
	st, _ = probeClient(ctx, c, n, timeout)
	return st
}

func probeClient(ctx context.Context, c *bkclient.Client, n builders.Node, timeout time.Duration) (Status, error) {
	st := Status{Node: n}
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, err := c.ListWorkers(tctx)
	if err != nil {
		if ctx.Err() != nil {
			st.Err = ctx.Err()
		} else {
			st.Err = &NodeError{Node: n, Phase: "is unreachable", Err: explainDial(n, err, timeout)}
		}
		return st, st.Err
	}
	if len(ws) == 0 {
		st.Err = &NodeError{Node: n, Phase: "is unusable", Err: errors.New("it reports no worker (check buildkitd's --oci-worker / --containerd-worker settings)")}
		return st, st.Err
	}
	for _, w := range ws {
		for _, p := range w.Platforms {
			p = platform.Normalize(p)
			if !containsPlatform(st.Platforms, p) {
				st.Platforms = append(st.Platforms, p)
			}
		}
	}
	st.Version = ws[0].BuildkitVersion.Version
	native, err := n.PlatformSpecs()
	if err != nil {
		st.Err = fmt.Errorf("node %s: %w", n.Name, err)
		return st, st.Err
	}
	if len(native) == 0 && len(ws[0].Platforms) > 0 {
		native = []specs.Platform{platform.Normalize(ws[0].Platforms[0])}
	}
	st.Native = native
	return st, nil
}

// explainDial turns gRPC's connection errors into advice.
func explainDial(n builders.Node, err error, timeout time.Duration) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "handshake") || strings.Contains(msg, "x509") || strings.Contains(msg, "tls:"):
		var files []string
		if n.TLS.CA != "" {
			files = append(files, "--tls-ca "+n.TLS.CA)
		}
		if n.TLS.Cert != "" {
			files = append(files, "--tls-cert "+n.TLS.Cert, "--tls-key "+n.TLS.Key)
		}
		if len(files) == 0 {
			return fmt.Errorf("TLS handshake failed (no --tls-ca/--tls-cert given): %w", err)
		}
		return fmt.Errorf("TLS handshake failed with %s: %w", strings.Join(files, ", "), err)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "DeadlineExceeded"):
		return fmt.Errorf("no answer within %s: is buildkitd running and listening on %s?", timeout, n.Addr)
	}
	return fmt.Errorf("%w (is buildkitd running and listening on %s?)", err, n.Addr)
}

func containsPlatform(ps []specs.Platform, p specs.Platform) bool {
	for _, q := range ps {
		if platform.Match(p, q) {
			return true
		}
	}
	return false
}

func formatList(ps []specs.Platform) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platform.Format(p)
	}
	return strings.Join(s, ", ")
}
