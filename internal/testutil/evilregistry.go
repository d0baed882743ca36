package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Attack is how an EvilRegistry misbehaves.
type Attack int

// Attacks of an EvilRegistry. Each is bounded: nothing it sends goes on for
// more than evilMaxTime or past what a client that stops reading accepts.
const (
	// AttackNone serves the image correctly.
	AttackNone Attack = iota
	// AttackRedirectLoop: /v2/ answers; the manifest URL redirects to itself.
	AttackRedirectLoop
	// AttackHugeManifest: the manifest response is 50 MiB, Content-Length declared.
	AttackHugeManifest
	// AttackHugeManifestChunked: the same without a Content-Length.
	AttackHugeManifestChunked
	// AttackHugeConfig: the manifest declares a 10 GiB config; its blob
	// streams zeros.
	AttackHugeConfig
	// AttackLongBlob: every layer blob goes on past its declared size
	// (no Content-Length).
	AttackLongBlob
	// AttackStallHeaders: manifest requests are read and never answered.
	AttackStallHeaders
	// AttackStallBody: layer blobs send their headers and half their
	// body, then nothing.
	AttackStallBody
	// AttackReset: layer blob connections are reset halfway through the body.
	AttackReset
	// Attack5xx: every manifest request answers 503.
	Attack5xx
	// AttackManifestTrickle: the manifest arrives 16 bytes every 50ms, never
	// silent for long, but slower than any manifest should.
	AttackManifestTrickle
	// AttackTrickle is no attack: layer blobs arrive 1 KiB every 100ms, a
	// download that is slow but never silent (it must not be cut).
	AttackTrickle
)

const evilMaxTime = 30 * time.Second

// EvilRegistry is a hostile registry on 127.0.0.1 serving one image as
// evil/img:latest (by tag and by digest) and misbehaving as its Attack says.
type EvilRegistry struct {
	srv       *httptest.Server
	attack    Attack
	manifest  []byte
	mediaType string
	blobs     map[string][]byte
	requests  atomic.Int64
	blobReqs  atomic.Int64
	sent      atomic.Int64
}

// StartEvilRegistry serves img with attack; it closes when t's test ends.
func StartEvilRegistry(t testing.TB, img v1.Image, attack Attack) *EvilRegistry {
	t.Helper()
	r := &EvilRegistry{attack: attack, blobs: map[string][]byte{}}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	r.mediaType = string(mt)
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	r.blobs[cfgName.String()] = cfg
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		r.blobs[h.String()] = b
	}
	if attack == AttackHugeConfig {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["config"].(map[string]any)["size"] = int64(10 << 30)
		if raw, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	r.manifest = raw
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// Host is HOST:PORT.
func (r *EvilRegistry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Ref is the image's reference, HOST:PORT/evil/img:latest.
func (r *EvilRegistry) Ref() string { return r.Host() + "/evil/img:latest" }

// Requests is how many requests the server has had.
func (r *EvilRegistry) Requests() int64 { return r.requests.Load() }

// BlobRequests is how many blob requests the server has had.
func (r *EvilRegistry) BlobRequests() int64 { return r.blobReqs.Load() }

// Sent is how many body bytes the attack's endless or long answers have sent.
func (r *EvilRegistry) Sent() int64 { return r.sent.Load() }

// Close stops the server, cutting stalled connections.
func (r *EvilRegistry) Close() {
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *EvilRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	p := req.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(p, "/v2/evil/img/manifests/"):
		r.serveManifest(w, req)
	case strings.HasPrefix(p, "/v2/evil/img/blobs/"):
		r.blobReqs.Add(1)
		r.serveBlob(w, req, strings.TrimPrefix(p, "/v2/evil/img/blobs/"))
	default:
		http.NotFound(w, req)
	}
}

func (r *EvilRegistry) serveManifest(w http.ResponseWriter, req *http.Request) {
	switch r.attack {
	case AttackRedirectLoop:
		http.Redirect(w, req, req.URL.Path, http.StatusFound)
		return
	case AttackHugeManifest, AttackHugeManifestChunked:
		w.Header().Set("Content-Type", r.mediaType)
		const n = 50 << 20
		if r.attack == AttackHugeManifest {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		w.WriteHeader(http.StatusOK)
		if req.Method != http.MethodHead {
			r.stream(w, req, n, '{')
		}
		return
	case AttackStallHeaders:
		r.stall(req)
		return
	case Attack5xx:
		http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"evil"}]}`, http.StatusServiceUnavailable)
		return
	case AttackManifestTrickle:
		if req.Method == http.MethodHead {
			break
		}
		w.Header().Set("Content-Type", r.mediaType)
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		w.WriteHeader(http.StatusOK)
		deadline := time.Now().Add(evilMaxTime)
		for off := 0; off < len(r.manifest) && time.Now().Before(deadline) && req.Context().Err() == nil; off += 16 {
			if _, err := w.Write(r.manifest[off:min(off+16, len(r.manifest))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		return
	}
	w.Header().Set("Content-Type", r.mediaType)
	w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
	if req.Method != http.MethodHead {
		w.Write(r.manifest)
	}
}

func (r *EvilRegistry) serveBlob(w http.ResponseWriter, req *http.Request, digest string) {
	b, ok := r.blobs[digest]
	if r.attack == AttackHugeConfig && !ok {
		w.WriteHeader(http.StatusOK)
		r.stream(w, req, 11<<30, 0)
		return
	}
	if !ok {
		http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	isConfig := len(b) > 0 && b[0] == '{'
	if isConfig || r.attack == AttackNone || r.attack == AttackHugeConfig {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
		return
	}
	switch r.attack {
	case AttackTrickle:
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		deadline := time.Now().Add(evilMaxTime)
		for off := 0; off < len(b) && time.Now().Before(deadline) && req.Context().Err() == nil; off += 1024 {
			if _, err := w.Write(b[off:min(off+1024, len(b))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		return
	case AttackLongBlob:
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		r.stream(w, req, 1<<30, 0)
		return
	case AttackStallBody, AttackReset:
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		if r.attack == AttackStallBody {
			r.stall(req)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.Write(b)
}

// stream writes up to n bytes of fill until the client stops reading or
// evilMaxTime passes.
func (r *EvilRegistry) stream(w http.ResponseWriter, req *http.Request, n int64, fill byte) {
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = fill
	}
	deadline := time.Now().Add(evilMaxTime)
	for n > 0 && time.Now().Before(deadline) && req.Context().Err() == nil {
		chunk := buf
		if int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		m, err := w.Write(chunk)
		r.sent.Add(int64(m))
		if err != nil {
			return
		}
		n -= int64(m)
	}
}

// stall waits until the client gives up or evilMaxTime passes.
func (r *EvilRegistry) stall(req *http.Request) {
	select {
	case <-req.Context().Done():
	case <-time.After(evilMaxTime):
	}
}
