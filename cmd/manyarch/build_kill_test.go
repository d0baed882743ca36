package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/testutil"
)

// killMarker is in the script of the slow RUN step, so its processes can be
// found in /proc after the build that started them was killed.
const killMarker = "manyarch-kill-test-step"

// killDockerfile: a COPY of 16 MiB of random data, a slow emulated RUN, and
// a RUN making a 48 MiB layer (compressed and stored while the step runs).
const killDockerfile = `FROM fixtures/busybox:1.35
COPY big /big
RUN i=0; while [ $i -lt 20 ]; do sleep 0.2; i=$((i+1)); done; uname -m > /arch # ` + killMarker + `
RUN cat /big /big /big > /big3
`

// buildEvent is a progress event of manyarch build --progress json.
type buildEvent struct {
	Kind, Status, Platform, Message string
}

// startBuild starts manyarch build with json progress; onEvent sees every
// event as it comes and returns true to kill the build then (after delay).
// It returns whether the build was killed (false: it ended by itself) and
// its exit error.
func startBuild(t *testing.T, root string, delay time.Duration, onEvent func(buildEvent) bool, args ...string) (bool, error) {
	t.Helper()
	cmd := command(root, append([]string{"build", "--progress", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stderr)
	sc.Buffer(nil, 1<<20)
	var log bytes.Buffer
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		var ev buildEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || killed || !onEvent(ev) {
			continue
		}
		time.Sleep(delay)
		killed = cmd.Process.Signal(syscall.SIGKILL) == nil
	}
	io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	if killed {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			killed = false // it had already ended
		}
	}
	if !killed && err != nil {
		t.Logf("build output:\n%s", log.String())
	}
	return killed, err
}

// buildSteps runs a build to its end and returns its digest and, per
// platform, the messages of the steps that ran (not cached).
func buildSteps(t *testing.T, root string, args ...string) (string, map[string][]string) {
	t.Helper()
	iid := filepath.Join(t.TempDir(), "iid")
	ran := map[string][]string{}
	_, err := startBuild(t, root, 0, func(ev buildEvent) bool {
		if ev.Kind == "step" && ev.Status == "done" {
			ran[ev.Platform] = append(ran[ev.Platform], strings.Fields(ev.Message)[0]+" "+stepWord(ev.Message))
		}
		return false
	}, append([]string{"--iidfile", iid}, args...)...)
	if err != nil {
		t.Fatalf("manyarch build %s: %v", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(iid)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), ran
}

// stepWord tells the steps of killDockerfile apart: "big", "sleep", "cat".
func stepWord(msg string) string {
	for _, w := range []string{"sleep", "cat", "big"} {
		if strings.Contains(msg, w) {
			return w
		}
	}
	return msg
}

// markedProcesses lists the processes running the slow step's script.
func markedProcesses() []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && bytes.Contains(b, []byte(killMarker)) {
			out = append(out, fmt.Sprintf("%s: %q", filepath.Dir(d), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// TestKilledBuildLeavesStoreUsable kills a build with SIGKILL in the
// middle of an emulated RUN step, while a step writes its layer, and at
// several points while it writes its outputs and tags. After each kill the
// store verifies, no process of the build is left, the -o archive is either
// absent or whole, and the next build succeeds, reuses exactly what had
// finished, and gives the digest a clean store gives.
func TestKilledBuildLeavesStoreUsable(t *testing.T) {
	testutil.Short(t, "builds an emulated image several times")
	root := fixtureStore(t)
	ctxDir := t.TempDir()
	big := make([]byte, 16<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(ctxDir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(killDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	platforms := []string{"--platform", "linux/amd64,linux/arm64"}
	outDir := t.TempDir()
	build := func(tag, out string, extra ...string) []string {
		return append(append(append([]string(nil), platforms...), "-t", tag, "-o", "type=oci,dest="+filepath.Join(outDir, out)), append(extra, ctxDir)...)
	}

	// The digest a clean store gives.
	clean := fixtureStore(t)
	want, _ := buildSteps(t, clean, build("clean:1", "clean.tar")...)

	afterKill := func(t *testing.T, out string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(markedProcesses()) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if ps := markedProcesses(); len(ps) > 0 {
			t.Errorf("processes of the killed build's RUN step still run:\n%s", strings.Join(ps, "\n"))
		}
		checkStore(t, root)
		p := filepath.Join(outDir, out)
		if _, err := os.Stat(p); err == nil {
			// Whole, or not there: copying verifies every blob.
			manyarch(t, root, "copy", "-q", "oci-archive:"+p, "oci:"+t.TempDir())
		}
	}

	t.Run("mid-RUN", func(t *testing.T) {
		killed, _ := startBuild(t, root, 700*time.Millisecond, func(ev buildEvent) bool {
			return ev.Kind == "step" && ev.Status == "running" && ev.Platform == "linux/arm64" && strings.Contains(ev.Message, "sleep")
		}, build("victim:1", "victim1.tar")...)
		if !killed {
			t.Fatal("the build ended before it could be killed in its RUN step")
		}
		afterKill(t, "victim1.tar")
		// What had finished (the COPY) is reused; the killed RUN and what
		// follows run again.
		got, ran := buildSteps(t, root, build("victim:1", "victim1.tar")...)
		for _, p := range []string{"linux/amd64", "linux/arm64"} {
			if strings.Join(ran[p], ",") != "RUN sleep,RUN cat" {
				t.Errorf("%s: after the kill, steps %v ran, want [RUN sleep RUN cat] (COPY from the cache)", p, ran[p])
			}
		}
		if got != want {
			t.Errorf("digest after the kill %s, a clean store gives %s", got, want)
		}
	})

	t.Run("mid-layer", func(t *testing.T) {
		for i, d := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond} {
			out := fmt.Sprintf("layer%d.tar", i)
			killed, err := startBuild(t, root, d, func(ev buildEvent) bool {
				return ev.Kind == "step" && ev.Status == "running" && strings.Contains(ev.Message, "cat /big")
			}, build("victim:2", out, "--no-cache")...)
			t.Logf("killed %v after the layer step started: %v (%v)", d, killed, err)
			afterKill(t, out)
		}
	})

	t.Run("mid-export", func(t *testing.T) {
		for i, d := range []time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
			out := fmt.Sprintf("export%d.tar", i)
			final := 0
			killed, err := startBuild(t, root, d, func(ev buildEvent) bool {
				if ev.Kind == "step" && (ev.Status == "done" || ev.Status == "cached") {
					final++
				}
				return final == 6 // 3 steps, 2 platforms: the outputs come next
			}, build(fmt.Sprintf("victim:export%d", i), out)...)
			t.Logf("killed %v after the last step: %v (%v)", d, killed, err)
			afterKill(t, out)
		}
	})

	// Then: the same build, fully cached, same digest; gc keeps it whole.
	got, ran := buildSteps(t, root, build("victim:final", "final.tar")...)
	if len(ran) > 0 {
		t.Errorf("the build after the kills ran %v, want every step from the cache", ran)
	}
	if got != want {
		t.Errorf("digest after the kills %s, a clean store gives %s", got, want)
	}
	manyarch(t, root, "gc")
	checkStore(t, root)
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(mi, []byte(root)) {
		t.Errorf("mounts under the store %s remain after the builds:\n%s", root, mi)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "build-tmp")); len(ents) > 0 {
		t.Errorf("build-tmp holds %d entries after the builds, want the killed builds' directories removed", len(ents))
	}
}
