package buildkit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
)

// logLines is how many lines of a step's log a failure quotes.
const logLines = 10

// maxLineLen bounds one quoted log line.
const maxLineLen = 500

// tracker turns one node's BuildKit status stream into progress events
// labelled with the node and platform, and remembers what a failure needs.
type tracker struct {
	node      builders.Node
	platforms []specs.Platform
	pf        progress.Func
	dfName    string // the Dockerfile as the user named it
	// log, when not nil, receives a debug record per finished step with
	// its start (after since) and duration: where a node's time goes.
	log   *slog.Logger
	since time.Time

	mu       sync.Mutex
	vertexes map[digest.Digest]*vertexState
	failed   digest.Digest // the last vertex that reported an error
	// partsDone are the parts of steps (VertexStatus IDs) logged as done.
	partsDone map[string]bool
}

type vertexState struct {
	name     string
	platform string
	status   progress.Status
	log      []string
	partial  string
}

func newTracker(n builders.Node, ps []specs.Platform, pf progress.Func) *tracker {
	return &tracker{node: n, platforms: ps, pf: pf, vertexes: map[digest.Digest]*vertexState{}, partsDone: map[string]bool{}}
}

// vertexPlatform finds the platform BuildKit's vertex name carries
// ("[linux/arm64 2/3] RUN ...", "[stage linux/arm/v7 1/2] ..."); with one
// platform on the node, that one.
func (t *tracker) vertexPlatform(name string) string {
	if strings.HasPrefix(name, "[") {
		if end := strings.Index(name, "]"); end > 0 {
			for _, f := range strings.Fields(name[1:end]) {
				if !strings.Contains(f, "/") || strings.Count(f, "/") > 2 {
					continue
				}
				if p, err := platform.Parse(f); err == nil {
					return platform.Format(p)
				}
			}
		}
	}
	if len(t.platforms) == 1 {
		return platform.Format(t.platforms[0])
	}
	return ""
}

func (t *tracker) update(s *bkclient.SolveStatus) {
	t.mu.Lock()
	var events []progress.Event
	for _, v := range s.Vertexes {
		vs := t.vertexes[v.Digest]
		if vs == nil {
			vs = &vertexState{name: v.Name, platform: t.vertexPlatform(v.Name)}
			t.vertexes[v.Digest] = vs
		}
		st := progress.StatusWaiting
		switch {
		case v.Error != "":
			st = progress.StatusFailed
			t.failed = v.Digest
		case v.Cached:
			st = progress.StatusCached
		case v.Completed != nil:
			st = progress.StatusDone
		case v.Started != nil:
			st = progress.StatusRunning
		}
		if st == vs.status || vs.status.Final() {
			continue
		}
		vs.status = st
		ev := progress.Event{ID: t.node.Name + "/" + v.Digest.String(), Kind: progress.KindStep, Status: st,
			Name: t.node.Name + ": " + v.Name, Platform: vs.platform}
		if v.Started != nil && v.Completed != nil {
			ev.Duration = v.Completed.Sub(*v.Started)
			if t.log != nil {
				t.log.Debug("buildkit step", "node", t.node.Name, "step", v.Name, "cached", v.Cached,
					"at", v.Started.Sub(t.since).Round(time.Millisecond), "took", ev.Duration.Round(time.Millisecond))
			}
		}
		if v.Error != "" {
			ev.Err = errors.New(v.Error)
		}
		events = append(events, ev)
	}
	if t.log != nil {
		for _, vs := range s.Statuses {
			if vs.Started == nil || vs.Completed == nil || t.partsDone[vs.ID] {
				continue
			}
			t.partsDone[vs.ID] = true
			t.log.Debug("buildkit step part", "node", t.node.Name, "part", vs.ID, "bytes", vs.Current,
				"at", vs.Started.Sub(t.since).Round(time.Millisecond), "took", vs.Completed.Sub(*vs.Started).Round(time.Millisecond))
		}
	}
	for _, l := range s.Logs {
		vs := t.vertexes[l.Vertex]
		if vs == nil {
			continue
		}
		text := vs.partial + string(l.Data)
		lines := strings.Split(text, "\n")
		vs.partial = lines[len(lines)-1]
		if len(vs.partial) > maxLineLen {
			vs.partial = vs.partial[:maxLineLen]
		}
		for _, line := range lines[:len(lines)-1] {
			if len(line) > maxLineLen {
				line = line[:maxLineLen] + "…"
			}
			vs.log = append(vs.log, line)
			if len(vs.log) > logLines {
				vs.log = vs.log[len(vs.log)-logLines:]
			}
		}
	}
	t.mu.Unlock()
	for _, ev := range events {
		t.pf.Send(ev)
	}
}

// explain turns a Solve error into a *StepError (a step failed) or a
// *NodeError (the node failed otherwise, e.g. died).
func (t *tracker) explain(err error) error {
	if connectionLost(err) {
		// The node went away: whatever its last steps reported (a
		// killed process's exit status), the node is what failed.
		return &NodeError{Node: t.node, Phase: "was lost during the build (nothing was tagged)", Err: err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	vs := t.vertexes[t.failed]
	var exit *gatewaypb.ExitError
	isExit := errors.As(err, &exit)
	srcs := errdefs.Sources(err)
	if vs == nil && !isExit && len(srcs) == 0 {
		return &NodeError{Node: t.node, Phase: "failed during the build (nothing was tagged)", Err: err}
	}
	se := &StepError{Node: t.node, ExitCode: -1, Err: err}
	if vs != nil {
		se.Step, se.Platform = vs.name, vs.platform
		se.Log = append(se.Log, vs.log...)
		if vs.partial != "" {
			se.Log = append(se.Log, vs.partial)
		}
	}
	if isExit {
		se.ExitCode = int(exit.ExitCode)
	}
	for _, s := range srcs {
		if s.Info == nil || len(s.Ranges) == 0 {
			continue
		}
		name := s.Info.Filename
		if name == "" || name == "Dockerfile" {
			name = t.dfName
		}
		se.Location = fmt.Sprintf("%s:%d", name, s.Ranges[0].Start.Line)
		break
	}
	return se
}

// connectionLost reports whether err says the connection to the daemon
// broke (gRPC Unavailable, a closed transport, a reset or cut stream).
func connectionLost(err error) bool {
	if status.Code(err) == codes.Unavailable || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"transport is closing", "connection reset by peer", "error reading from server: EOF", "code = Unavailable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
