// Command service is the service of the service-test demo: a small HTTP API
// that answers its version and the architecture it was built for, so
// manyarch test can start it on every platform of an image and compare the
// answers (see tests.yaml and the Dockerfile beside it, and
// docs/service-tests.md).
//
//	GET  /status   {"version": "1.0.0", "goarch": "arm64", "uptimeSeconds": 1.5}
//	GET  /healthz  ok
//	GET  /items    a fixed list, the same on every platform
//	POST /echo     {"body": <the JSON sent>, "headers": {"X-Request-Id": ...}}
//
// It listens on $PORT (default 8080) on every address, takes its version
// from $SERVICE_VERSION (default the one built in), and stops gracefully on
// SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// version is the built-in version (-ldflags "-X main.version=...").
var version = "dev"

// maxBody bounds a request body.
const maxBody = 1 << 20

type status struct {
	Version       string  `json:"version"`
	GOARCH        string  `json:"goarch"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
}

type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var items = []item{{1, "alpha"}, {2, "beta"}, {3, "gamma"}}

func main() {
	log.SetFlags(0)
	if v := os.Getenv("SERVICE_VERSION"); v != "" {
		version = v
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           newMux(time.Now()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("service %s (%s/%s) listening on :%s", version, runtime.GOOS, runtime.GOARCH, port)
	select {
	case err := <-errc:
		log.Fatalf("serving: %v", err)
	case <-ctx.Done():
	}
	log.Print("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Fatalf("stopping: %v", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serving: %v", err)
	}
}

func newMux(start time.Time) *http.ServeMux {
	mux := http.NewServeMux()
	// Plain paths and a method check in each handler: the patterns of Go
	// 1.22 ("GET /status") need a go.mod saying so, and the Dockerfile
	// builds main.go alone.
	mux.HandleFunc("/status", only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, status{Version: version, GOARCH: runtime.GOARCH, UptimeSeconds: time.Since(start).Seconds()})
	}))
	mux.HandleFunc("/healthz", only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	mux.HandleFunc("/items", only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, items)
	}))
	mux.HandleFunc("/echo", only(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
			return
		}
		var body any
		if err := json.Unmarshal(data, &body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not JSON: " + err.Error()})
			return
		}
		id := r.Header.Get("X-Request-Id")
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		writeJSON(w, http.StatusOK, map[string]any{"body": body, "headers": map[string]string{"X-Request-Id": id}})
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return mux
}

// only answers 405 to methods other than method (HEAD too for GET).
func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("writing the answer: %v", err)
	}
}
