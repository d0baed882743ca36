package remote

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// The clients this package makes itself bound redirects and keep the SSRF
// check go-containerregistry's clients have.
func TestCheckRedirect(t *testing.T) {
	req := func(u string) *http.Request {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: p}
	}
	start := req("https://registry.example.com/v2/a/blobs/sha256:00")
	tests := []struct {
		name string
		to   string
		via  int
		ok   bool
	}{
		{"same host", "https://registry.example.com/other", 1, true},
		{"public storage", "https://storage.example.net/blob", 1, true},
		{"metadata service", "http://169.254.169.254/latest/meta-data", 1, false},
		{"private network", "http://10.0.0.1/x", 1, false},
		{"loopback of another host", "http://127.0.0.1:8080/x", 1, false},
		{"tenth redirect", "https://registry.example.com/x", 9, true},
		{"eleventh redirect", "https://registry.example.com/x", 10, false},
	}
	for _, tt := range tests {
		via := make([]*http.Request, tt.via)
		for i := range via {
			via[i] = start
		}
		err := checkRedirect(req(tt.to), via)
		if (err == nil) != tt.ok {
			t.Errorf("checkRedirect(%s, %d before) = %v, want ok %v", tt.to, tt.via, err, tt.ok)
		}
		if tt.via >= MaxRedirects && !errors.Is(err, ErrTooManyRedirects) {
			t.Errorf("checkRedirect after %d = %v, want ErrTooManyRedirects", tt.via, err)
		}
	}
}
