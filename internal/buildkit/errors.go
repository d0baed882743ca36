package buildkit

import (
	"fmt"
	"strings"

	"github.com/manyarch/manyarch/internal/builders"
)

// NodeError is a node that could not be reached or failed during a build
// for another reason than a build step: it names the node and its address.
type NodeError struct {
	Node  builders.Node
	Phase string // "unreachable", "died during the build", ...
	Err   error
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %s (%s) %s: %v", e.Node.Name, e.Node.Addr, e.Phase, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// StepError is a build step that failed on a node: the node, the
// platform, the Dockerfile location, the step, BuildKit's error (which
// holds the exit status) and the last lines of the step's log.
type StepError struct {
	Node     builders.Node
	Platform string // "" when BuildKit's vertex name did not say
	Location string // Dockerfile:LINE, "" when unknown
	Step     string // the vertex name: "[linux/arm64 2/3] RUN make"
	ExitCode int    // -1 when not a process exit
	Log      []string
	Err      error
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s (%s)", e.Node.Name, e.Node.Addr)
	if e.Platform != "" {
		fmt.Fprintf(&b, ", %s", e.Platform)
	}
	if e.Location != "" {
		fmt.Fprintf(&b, ", %s", e.Location)
	}
	if e.Step != "" {
		fmt.Fprintf(&b, ": %s", e.Step)
	}
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if len(e.Log) > 0 {
		b.WriteString("\nlast lines of its log:")
		for _, l := range e.Log {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// PlatformError is a target platform that no node of the builder can run.
type PlatformError struct {
	Platform string
	Builder  string
	Nodes    []string // "NAME (ADDR): linux/amd64, linux/386"
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("%s: no node of builder %s runs or emulates it; the nodes have: %s (add a node for it with `manyarch builder create`, or install QEMU on a node)",
		e.Platform, e.Builder, strings.Join(e.Nodes, "; "))
}
