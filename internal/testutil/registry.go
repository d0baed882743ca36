package testutil

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RegistryOptions configures StartRegistry.
type RegistryOptions struct {
	// Username and Password, when Username is set, turn on htpasswd basic
	// authentication (the test then needs htpasswd from apache2-utils).
	Username, Password string
	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1, which
	// clients only accept when they skip verification (--insecure).
	TLS bool
}

// Registry is a CNCF distribution registry (Debian's docker-registry) run by
// a test on a random 127.0.0.1 port with its storage in a temporary directory.
type Registry struct {
	host     string
	scheme   string
	storage  string
	username string
	password string
	log      *SyncBuffer
}

// StartRegistry starts /usr/bin/docker-registry (or docker-registry on PATH)
// and waits until /v2/ answers; it is stopped when t's test ends. It skips t
// when the registry binary is missing.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		bin = RequireCommand(t, "docker-registry", "docker-registry")
	}
	dir := t.TempDir()
	r := &Registry{storage: filepath.Join(dir, "storage"), scheme: "http", username: opts.Username, password: opts.Password, log: &SyncBuffer{}}
	tlsBlock := ""
	if opts.TLS {
		cert, key, err := selfSigned(dir)
		if err != nil {
			t.Fatalf("making a self-signed certificate: %v", err)
		}
		r.scheme = "https"
		tlsBlock = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	authBlock := ""
	if opts.Username != "" {
		htpasswd := RequireCommand(t, "htpasswd", "apache2-utils")
		out, err := exec.Command(htpasswd, "-nbB", opts.Username, opts.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd -nbB %s: %v", opts.Username, err)
		}
		file := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(file, bytes.TrimSpace(out), 0o600); err != nil {
			t.Fatal(err)
		}
		authBlock = fmt.Sprintf("auth:\n  htpasswd:\n    realm: manyarch-test\n    path: %s\n", file)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		r.host = fmt.Sprintf("127.0.0.1:%d", port)
		config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: manyarch-test-secret
%s%s`, r.storage, r.host, tlsBlock, authBlock)
		cfgFile := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfgFile)
		cmd.Stdout, cmd.Stderr = r.log, r.log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitReady(r.scheme+"://"+r.host, exited); lastErr == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("docker-registry log:\n%s", r.log.String())
				}
			})
			return r
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("docker-registry did not start: %v\n%s", lastErr, r.log.String())
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(base string, exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own self-signed test certificate
	}}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("registry exited: %v", err)
		default:
		}
		resp, err := client.Get(base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s/v2/ within 15s", base)
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "manyarch test registry"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// Host is the registry's "127.0.0.1:PORT".
func (r *Registry) Host() string { return r.host }

// Ref returns "HOST/repoAndTag".
func (r *Registry) Ref(repoAndTag string) string { return r.host + "/" + repoAndTag }

// StorageDir is the registry's storage root, for tests that tamper with it.
func (r *Registry) StorageDir() string { return r.storage }

// DockerConfig writes a docker config.json holding the registry's
// credentials into a new directory and returns the directory, for
// t.Setenv("DOCKER_CONFIG", dir).
func (r *Registry) DockerConfig(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(r.username + ":" + r.password))
	cfg := map[string]any{"auths": map[string]any{r.host: map[string]string{"auth": auth}}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SyncBuffer is a bytes.Buffer that is safe to read while a process or
// goroutine writes it (a command's stderr that a test watches).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FaultKind is what a FaultProxy does to a matching request.
type FaultKind int

// Faults a FaultProxy can inject.
const (
	// FaultStatus answers with Fault.Status (default 500) and does not forward.
	FaultStatus FaultKind = iota
	// FaultDrop reads part of the request body, then closes the connection
	// without an answer.
	FaultDrop
	// FaultStall accepts the request and says nothing until the client gives
	// up or the proxy closes.
	FaultStall
	// FaultRewrite forwards the request and passes the answer's body through
	// Fault.Rewrite.
	FaultRewrite
)

// Fault is one rule of a FaultProxy: requests whose method is Method (any
// when empty) and whose path contains Path get Kind, for the first Times
// matches after skipping Skip of them (Times < 0: all of them).
type Fault struct {
	Method  string
	Path    string
	Kind    FaultKind
	Status  int
	Skip    int
	Times   int
	Rewrite func([]byte) []byte

	matched int
}

// FaultProxy is a reverse proxy on 127.0.0.1 that forwards to a registry and
// injects faults.
type FaultProxy struct {
	srv    *httptest.Server
	mu     sync.Mutex
	faults []*Fault
	hits   int
	done   chan struct{}
}

// StartFaultProxy starts a proxy in front of the registry at target
// ("HOST:PORT"); it is closed when t's test ends.
func StartFaultProxy(t testing.TB, target string, faults ...Fault) *FaultProxy {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{done: make(chan struct{})}
	for i := range faults {
		f := faults[i]
		p.faults = append(p.faults, &f)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(resp *http.Response) error {
		f, _ := resp.Request.Context().Value(rewriteKey{}).(*Fault)
		if f == nil || f.Rewrite == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = f.Rewrite(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f := p.match(req)
		if f == nil {
			rp.ServeHTTP(w, req)
			return
		}
		switch f.Kind {
		case FaultStatus:
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			if req.Body != nil {
				_, _ = io.Copy(io.Discard, req.Body)
			}
			http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, status)
		case FaultDrop:
			if req.Body != nil {
				_, _ = io.CopyN(io.Discard, req.Body, 64<<10)
			}
			hj, ok := w.(http.Hijacker)
			if !ok {
				http.Error(w, "fault proxy: cannot hijack", http.StatusInternalServerError)
				return
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
		case FaultStall:
			select {
			case <-req.Context().Done():
			case <-p.done:
			}
		case FaultRewrite:
			ctx := req.Context()
			rp.ServeHTTP(w, req.WithContext(withRewrite(ctx, f)))
		}
	}))
	t.Cleanup(p.Close)
	return p
}

type rewriteKey struct{}

func withRewrite(ctx context.Context, f *Fault) context.Context {
	return context.WithValue(ctx, rewriteKey{}, f)
}

func (p *FaultProxy) match(req *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hits++
	for _, f := range p.faults {
		if f.Method != "" && f.Method != req.Method {
			continue
		}
		if !strings.Contains(req.URL.Path, f.Path) {
			continue
		}
		f.matched++
		if f.matched <= f.Skip {
			continue
		}
		if f.Times >= 0 && f.matched > f.Skip+f.Times {
			continue
		}
		return f
	}
	return nil
}

// Host is the proxy's "127.0.0.1:PORT".
func (p *FaultProxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// Injected reports how many requests matched each fault and were faulted,
// in the order the faults were given.
func (p *FaultProxy) Injected() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, len(p.faults))
	for i, f := range p.faults {
		n := f.matched - f.Skip
		if n < 0 {
			n = 0
		}
		if f.Times >= 0 && n > f.Times {
			n = f.Times
		}
		out[i] = n
	}
	return out
}

// Close stops the proxy, releasing stalled requests.
func (p *FaultProxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// PlatformImage returns a random image (layers layers of size bytes each)
// whose config says os/arch[/variant] as given in platform ("linux/arm/v7").
// Registry tests push it; its content is random, so every call differs.
func PlatformImage(t testing.TB, platform string, layers int, size int64) v1.Image {
	t.Helper()
	parts := strings.Split(platform, "/")
	if len(parts) < 2 || len(parts) > 3 {
		t.Fatalf("PlatformImage(%q): want OS/ARCH[/VARIANT]", platform)
	}
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = parts[0], parts[1]
	if len(parts) == 3 {
		cf.Variant = parts[2]
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// PlatformIndex returns an OCI image index of one PlatformImage per platform,
// each descriptor carrying its image's platform and nothing else (no
// artifactType, which go-containerregistry's mutate would add). It does not
// use internal/index: packages that index imports test with testutil.
func PlatformIndex(t testing.TB, layers int, size int64, platforms ...string) v1.ImageIndex {
	t.Helper()
	idx := &testIndex{images: map[v1.Hash]v1.Image{}, manifest: &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}}
	for _, p := range platforms {
		img := PlatformImage(t, p, layers, size)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := img.MediaType()
		h, _ := img.Digest()
		n, _ := img.Size()
		idx.manifest.Manifests = append(idx.manifest.Manifests, v1.Descriptor{
			MediaType: mt, Digest: h, Size: n,
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		})
		idx.images[h] = img
	}
	raw, err := json.Marshal(idx.manifest)
	if err != nil {
		t.Fatal(err)
	}
	idx.raw = raw
	idx.digest, idx.size, _ = v1.SHA256(bytes.NewReader(raw))
	return idx
}

type testIndex struct {
	raw      []byte
	manifest *v1.IndexManifest
	digest   v1.Hash
	size     int64
	images   map[v1.Hash]v1.Image
}

func (x *testIndex) MediaType() (types.MediaType, error)       { return x.manifest.MediaType, nil }
func (x *testIndex) Digest() (v1.Hash, error)                  { return x.digest, nil }
func (x *testIndex) Size() (int64, error)                      { return x.size, nil }
func (x *testIndex) RawManifest() ([]byte, error)              { return x.raw, nil }
func (x *testIndex) IndexManifest() (*v1.IndexManifest, error) { return x.manifest.DeepCopy(), nil }

func (x *testIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := x.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: not in this index", h)
}

func (x *testIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s: not in this index", h)
}
