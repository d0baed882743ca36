package remote

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// probeBody is a request body over a file that counts what is read through
// it and what a connection reports sending from the file directly.
type probeBody struct {
	f     *os.File
	nRead atomic.Int64
	nSent atomic.Int64
}

func (p *probeBody) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	p.nRead.Add(int64(n))
	return n, err
}

func (p *probeBody) Close() error       { return p.f.Close() }
func (p *probeBody) sendFile() *os.File { return p.f }
func (p *probeBody) sent(n int64)       { p.nSent.Add(n) }

// A request body that is a file goes out through the kernel (sendfile), not
// through this process, while the stall watchdog and progress still hear of
// every chunk: over the package's own transport, of a 5 MiB file, at most
// the first buffer's worth is read through the body, the rest is reported
// sent, and the server gets every byte.
func TestFileBodyIsSentByTheKernel(t *testing.T) {
	data := make([]byte, 5<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var got [sha256.Size]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		copy(got[:], h.Sum(nil))
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	o, err := makeOptions([]Option{WithStallTimeout(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: o.httpTransport()}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	body := &probeBody{f: f}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL+"/blob", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT of the file = %s", resp.Status)
	}
	if want := sha256.Sum256(data); !bytes.Equal(got[:], want[:]) {
		t.Fatalf("the server received other bytes than the file's")
	}
	read, sent := body.nRead.Load(), body.nSent.Load()
	if read > 64<<10 {
		t.Errorf("%d bytes were read through the body, want at most 64 KiB: the file was not sent by the kernel", read)
	}
	if read+sent != int64(len(data)) {
		t.Errorf("read %d + reported sent %d = %d bytes, want the file's %d", read, sent, read+sent, len(data))
	}
}
