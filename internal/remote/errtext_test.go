package remote_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// goInternals matches what a user must never read in an error: a Go map or
// struct printed with %v, a Go type name.
var goInternals = regexp.MustCompile(`map\[|&\{|\*transport\.|\[\]interface|\bstruct \{`)

// TestErrorTexts: issue #22 item 12. Authentication failures and a missing
// tag name what is needed in words, never a Go map, and say their operation
// and reference once.
func TestErrorTexts(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Username: "alice", Password: "s3cret"})
	ctx := context.Background()
	img := testutil.PlatformImage(t, "linux/arm64", 1, 256)
	ref := reg.Ref("demo/app:1")
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials

	check := func(what string, err error, sentinel error, want ...string) {
		t.Helper()
		if !errors.Is(err, sentinel) {
			t.Fatalf("%s = %v, want %v", what, err, sentinel)
		}
		msg := err.Error()
		if goInternals.MatchString(msg) {
			t.Errorf("%s = %q, which prints Go internals", what, msg)
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s = %q, want it to contain %q", what, msg, w)
			}
		}
		for _, op := range []string{"reading " + ref, "pushing " + ref} {
			if n := strings.Count(msg, op); n > 1 {
				t.Errorf("%s = %q: %q %d times, want once", what, msg, op, n)
			}
		}
	}
	_, _, err := remote.Read(ctx, ref)
	check("Read without credentials", err, remote.ErrUnauthorized, "needs pull access to repository demo/app", "docker login "+reg.Host())
	_, err = remote.Write(ctx, ref, img)
	check("Write without credentials", err, remote.ErrUnauthorized, "docker login "+reg.Host())

	t.Setenv("DOCKER_CONFIG", reg.DockerConfig(t))
	_, _, err = remote.Read(ctx, reg.Ref("demo/app:missing"))
	check("Read of a missing tag", err, remote.ErrNotFound, "check the name and tag")
}
