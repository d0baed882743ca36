package imagetest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// hostLinksImage has links that would read host files if anything
// resolved them on the host: /etc/shadow -> /etc/shadow, links to
// ../../../../etc/hostname, and absolute and ".." links to secret.
func hostLinksImage(t *testing.T, secret string) v1.Image {
	return image(t, "linux/amd64", v1.Config{}, layer(t,
		dir("etc", 0o755), file("etc/hostname", "inside-image\n", 0o644), symlink("etc/shadow", "/etc/shadow"),
		dir("x", 0o755), dir("x/a", 0o755),
		symlink("x/a/hostname", "../../../../etc/hostname"),
		symlink("x/secret", secret),
		symlink("x/a/secretrel", "../../../../../../.."+secret),
		symlink("x/secretdir", filepath.Dir(secret)),
		symlink("x/root", "../../../../.."),
	))
}

// hostLinksConfig checks the links; every test passes only when paths
// resolve inside the image.
func hostLinksConfig(t *testing.T, secret string) *Config {
	return mustParse(t, fmt.Sprintf(`schemaVersion: 2.0.0
fileContentTests:
- {name: hostname via dot-dot, path: /x/a/hostname, expectedContents: ['^inside-image\n$']}
- {name: hostname via root link, path: /x/root/etc/hostname, expectedContents: ['^inside-image\n$']}
fileExistenceTests:
- {name: shadow is a link, path: /etc/shadow, shouldExist: true, permissions: Lrwxrwxrwx}
- {name: secret via dir link, path: /x/secretdir/%s, shouldExist: false}
- {name: secret via root link, path: /x/root%s, shouldExist: false}
licenseTests:
- {files: [/x/a/hostname]}
`, filepath.Base(secret), secret))
}

// checkNoHostRead runs hostLinksConfig and fails t if a test failed or
// any result shows a host file's content; then content tests of the links
// to the host file must fail as files missing from the image.
func checkNoHostRead(t *testing.T, x Executor, secret string, opts ...Option) {
	t.Helper()
	host, _ := os.ReadFile("/etc/hostname")
	host = bytes.TrimSpace(host)
	r := run(t, hostLinksImage(t, secret), x, []*Config{hostLinksConfig(t, secret)}, opts...)
	for i, tt := range r.Tests {
		res := r.Results[i][0]
		if res.Status != StatusPass {
			t.Errorf("%s: %s, want pass: %+v", tt.Name, res.Status, res.Failures)
		}
		all := fmt.Sprintf("%+v", res)
		if strings.Contains(all, "HOST SECRET") || (len(host) > 0 && string(host) != "inside-image" && strings.Contains(all, string(host))) {
			t.Errorf("%s: the result shows a host file: %s", tt.Name, all)
		}
	}
	// Content tests on the loops and the links fail, naming the loop, not
	// a host file.
	c := mustParse(t, "schemaVersion: 2.0.0\nfileContentTests:\n- {name: shadow, path: /etc/shadow, expectedContents: [root]}\n- {name: secret, path: /x/secret, expectedContents: [SECRET]}\n- {name: secretrel, path: /x/a/secretrel, expectedContents: [SECRET]}\n")
	r = run(t, hostLinksImage(t, secret), x, []*Config{c}, opts...)
	if got, want := statuses(r), []string{"fail", "fail", "fail"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q: %+v", got, want, r.Results)
	}
	if msg := r.Results[0][0].Failures[0].Message; !strings.Contains(msg, "too many levels of symbolic links") {
		t.Errorf("/etc/shadow -> /etc/shadow: %q, want a symbolic link loop", msg)
	}
	for i := 1; i < 3; i++ {
		if msg := r.Results[i][0].Failures[0].Message; !strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "SECRET") {
			t.Errorf("%s (a link to %s): %q, want the file missing from the image", r.Tests[i].Name, secret, msg)
		}
	}
}

func hostSecret(t *testing.T) string {
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("HOST SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestFlatFSNeverReadsHostFiles: the flattened reader (no root, no
// executor) resolves every link inside the image.
func TestFlatFSNeverReadsHostFiles(t *testing.T) {
	checkNoHostRead(t, nil, hostSecret(t))
}

// logRecorder keeps the attributes of the records logged to it.
type logRecorder struct {
	slog.Handler
	mu    chan struct{}
	attrs []string
}

func newLogRecorder() *logRecorder {
	return &logRecorder{Handler: slog.DiscardHandler, mu: make(chan struct{}, 1)}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	r.Attrs(func(a slog.Attr) bool {
		l.attrs = append(l.attrs, a.Key+"="+a.Value.String())
		return true
	})
	return nil
}

func (l *logRecorder) has(s string) bool {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return slices.Contains(l.attrs, s)
}

// viewExec is an executor whose root view is given: a view or an error.
type viewExec struct {
	fakeExec
	view   func(t Target) (fileView, error)
	closed int
}

func (v *viewExec) rootView(ctx context.Context, t Target) (fileView, error) { return v.view(t) }

// closeCounter counts closes of the view it wraps.
type closeCounter struct {
	fileView
	n *int
}

func (c closeCounter) close() error { *c.n++; return c.fileView.close() }

// TestRootViewChoice: file tests read the executor's root view when it
// has one; where it cannot be had (errNoKernelView) the flattened layers;
// any other error fails the platform's file tests, naming it; every view
// is closed when the run ends.
func TestRootViewChoice(t *testing.T) {
	img := image(t, "linux/amd64", v1.Config{}, layer(t, file("f", "image", 0o644)))
	other := image(t, "linux/amd64", v1.Config{}, layer(t, file("f", "the executor's root", 0o644)))
	c := mustParse(t, "schemaVersion: 2.0.0\nfileContentTests:\n- {name: f, path: /f, expectedContents: ['^image$']}\n")

	x := &viewExec{}
	x.view = func(Target) (fileView, error) {
		f, err := newFlatFS(context.Background(), other)
		return closeCounter{f, &x.closed}, err
	}
	r := run(t, img, x, []*Config{c})
	if got := statuses(r); !slices.Equal(got, []string{"fail"}) || !strings.Contains(fmt.Sprint(r.Results[0][0].Failures), "the executor's root") {
		t.Errorf("with a root view: %q %+v, want the executor's root read", got, r.Results[0][0].Failures)
	}
	if x.closed != 1 {
		t.Errorf("the root view was closed %d times, want 1", x.closed)
	}

	x.view = func(Target) (fileView, error) { return nil, fmt.Errorf("%w: running as uid 1000", errNoKernelView) }
	if got := statuses(run(t, img, x, []*Config{c})); !slices.Equal(got, []string{"pass"}) {
		t.Errorf("no kernel view: %q, want the flattened layers read (pass)", got)
	}

	x.view = func(Target) (fileView, error) { return nil, fmt.Errorf("unpacking the layers: disk full") }
	r = run(t, img, x, []*Config{c})
	if msg := fmt.Sprint(r.Results[0][0].Failures); r.Results[0][0].Status != StatusFail || !strings.Contains(msg, "linux/amd64: preparing the image's root file system for file tests: unpacking the layers: disk full") {
		t.Errorf("a failing root view: %s %s, want the file test failed with the error", r.Results[0][0].Status, msg)
	}
}
