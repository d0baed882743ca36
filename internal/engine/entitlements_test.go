//go:build unix

package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
)

// TestInsecureNeedsAllow: RUN --security=insecure fails the plan without
// --allow security.insecure, naming the line and the flag (issue #25).
func TestInsecureNeedsAllow(t *testing.T) {
	src := "FROM busybox\nRUN true\nRUN --security=insecure mount -t tmpfs none /mnt\n"
	p := mustPlan(t, src, PlanOptions{Platforms: []specs.Platform{amd64, arm64}})
	err := checkEntitlements(p, nil)
	var de *dockerfile.Error
	if err == nil || !errors.Is(err, ErrNotAllowed) || !errors.As(err, &de) {
		t.Fatalf("checkEntitlements(no --allow) = %v, want a located ErrNotAllowed", err)
	}
	for _, w := range []string{"Dockerfile:3", "RUN --security=insecure", "--allow security.insecure"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("checkEntitlements(no --allow) = %q, want it to contain %q", err, w)
		}
	}
	if err := checkEntitlements(p, []string{EntitlementSecurityInsecure}); err != nil {
		t.Errorf("checkEntitlements(--allow security.insecure) = %v, want nil", err)
	}
	if err := checkEntitlements(mustPlan(t, "FROM busybox\nRUN --security=sandbox true\n", PlanOptions{}), nil); err != nil {
		t.Errorf("checkEntitlements(--security=sandbox) = %v, want nil", err)
	}
	if err := CheckAllow([]string{"security.insecure"}); err != nil {
		t.Errorf("CheckAllow(security.insecure) = %v", err)
	}
	if err := CheckAllow([]string{"device"}); err == nil || !strings.Contains(err.Error(), "--allow device: unknown entitlement") {
		t.Errorf("CheckAllow(device) = %v, want an unknown entitlement error", err)
	}
}

// TestBuildInsecureNeedsAllow: the gate is on in Build, before any step
// runs.
func TestBuildInsecureNeedsAllow(t *testing.T) {
	env := e2eEnv(t)
	dir := t.TempDir()
	req := &Request{Dockerfile: []byte("FROM fixtures/busybox:1.35\nRUN --security=insecure true\n"), DockerfileName: "Dockerfile",
		ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64")}
	_, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req)
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Fatalf("Build without --allow = %v, want ErrNotAllowed at Dockerfile:2", err)
	}
}

// TestBuildInsecureRunsPrivileged: with --allow security.insecure the
// step runs with no seccomp filter and can mount; a plain RUN of the same
// build cannot.
func TestBuildInsecureRunsPrivileged(t *testing.T) {
	env := e2eEnv(t)
	dir := t.TempDir()
	df := "FROM fixtures/busybox:1.35\n" +
		"RUN grep Seccomp: /proc/self/status; grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && mkdir -p /m && ! mount -t tmpfs none /m 2>/dev/null\n" +
		"RUN --security=insecure grep Seccomp: /proc/self/status; grep -q '^Seccomp:[[:space:]]*0' /proc/self/status && mkdir -p /m && mount -t tmpfs none /m && umount /m\n"
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
		Platforms: parsePlatforms(t, "linux/amd64"), Allow: []string{EntitlementSecurityInsecure}}
	if _, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req); err != nil {
		t.Fatalf("Build with --allow security.insecure: %v", err)
	}
}
