package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/manyarch/manyarch/internal/engine"
)

// buildExtra holds buildx flags handled around the engine: --check and
// --load (issue #22 item 3).
type buildExtra struct {
	check bool
	load  bool

	loadFile string // the docker archive --load writes, then loads
}

// printCheckResult prints what `buildx build --check` prints and returns its
// exit status: 1 when the Dockerfile has warnings.
func printCheckResult(w io.Writer, res *engine.Result) error {
	if res == nil || len(res.Warnings) == 0 {
		fmt.Fprintln(w, "Check complete, no warnings found.")
		return nil
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "%s %s\n", paint(w, colorYellow, "WARNING:"), warn)
	}
	noun := "warnings have"
	if len(res.Warnings) == 1 {
		noun = "warning has"
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("check complete, %d %s been found", len(res.Warnings), noun)}
}

// loadEngine finds the container engine --load loads into: docker when
// its daemon answers, else podman. The error says what to do instead.
func loadEngine(ctx context.Context) (string, error) {
	var tried []string
	for _, name := range []string{"docker", "podman"} {
		path, err := exec.LookPath(name)
		if err != nil {
			tried = append(tried, name+": not installed")
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var out bytes.Buffer
		c := exec.CommandContext(ctx, path, "info", "--format", "{{.ServerVersion}}")
		if name == "podman" {
			c = exec.CommandContext(ctx, path, "info", "--format", "{{.Version.Version}}")
		}
		c.Stdout, c.Stderr = &out, &out
		err = c.Run()
		cancel()
		if err == nil {
			return path, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %s", name, firstLineOf(out.String(), err)))
	}
	return "", fmt.Errorf("--load: no docker or podman engine answers (%s); write the image with -o type=docker,dest=FILE and load it where one runs, or keep it in manyarch's store with -t",
		strings.Join(tried, "; "))
}

// prepareLoad adds to req the docker archive output that --load loads.
func (x *buildExtra) prepareLoad(ctx context.Context, o *buildOptions, req *engine.Request) error {
	if !x.load {
		return nil
	}
	if len(req.Platforms) > 1 {
		return errors.New("--load: a docker engine loads one platform's image (the docker archive holds one); build one --platform, or use --push or -o type=oci for several")
	}
	if _, err := loadEngine(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "manyarch-load-")
	if err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	x.loadFile = filepath.Join(dir, "image.tar")
	name := ""
	if len(o.tags) > 0 {
		name = ",name=" + o.tags[0]
	}
	out, err := engine.ParseOutput("type=docker,dest=" + x.loadFile + name)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("--load: %w", err)
	}
	req.Outputs = append(req.Outputs, out)
	return nil
}

// finishLoad loads the archive into the engine and removes it.
func (x *buildExtra) finishLoad(ctx context.Context, stdout, stderr io.Writer) error {
	if x.loadFile == "" {
		return nil
	}
	defer os.RemoveAll(filepath.Dir(x.loadFile))
	path, err := loadEngine(ctx)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, path, "load", "-i", x.loadFile)
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("--load: %s load: %w", filepath.Base(path), err)
	}
	return nil
}

func firstLineOf(s string, err error) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	if s == "" {
		return err.Error()
	}
	return s
}
