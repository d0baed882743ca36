package fault

import (
	"fmt"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

const (
	KindLatency   Kind = "latency"   // added delay on the container's interface
	KindLoss      Kind = "loss"      // packets dropped at random
	KindPartition Kind = "partition" // every packet dropped
	KindKill      Kind = "kill"      // a signal to the main process
	KindCPU       Kind = "cpu"       // a CPU quota
	KindMemory    Kind = "memory"    // a memory limit
)

// Kinds are the kinds of fault, in the order documentation lists them.
var Kinds = []Kind{KindLatency, KindLoss, KindPartition, KindKill, KindCPU, KindMemory}

// MaxDuration bounds every fault.
const MaxDuration = 10 * time.Minute

// Spec is one fault. Duration bounds it (all kinds but kill): after it the
// fault lifts itself.
type Spec struct {
	Kind     Kind
	Duration time.Duration
	Delay    time.Duration // latency: added to every packet the container sends
	Jitter   time.Duration // latency: its variation (uniform, +-)
	Loss     float64       // loss: percent of packets dropped, (0, 100]
	CPUs     float64       // cpu: the quota in CPUs (0.5 = half of one CPU)
	Memory   int64         // memory: the limit in bytes
	Signal   string        // kill: "KILL" (default), "TERM", "SIGSEGV", ...
}

// MinMemory is the smallest memory limit a fault sets (as docker -m).
const MinMemory = 6 << 20

// Validate checks the values a kind needs; the error names the value and
// the allowed range.
func (s Spec) Validate() error {
	if s.Kind != KindKill {
		if s.Duration <= 0 || s.Duration > MaxDuration {
			return fmt.Errorf("%s fault: duration %s: want more than 0 and at most %s", s.Kind, s.Duration, MaxDuration)
		}
	}
	switch s.Kind {
	case KindLatency:
		if s.Delay <= 0 || s.Delay > time.Minute {
			return fmt.Errorf("latency fault: delay %s: want more than 0 and at most 1m", s.Delay)
		}
		if s.Jitter < 0 || s.Jitter > s.Delay {
			return fmt.Errorf("latency fault: jitter %s: want 0 to the delay (%s)", s.Jitter, s.Delay)
		}
	case KindLoss:
		if !(s.Loss > 0 && s.Loss <= 100) {
			return fmt.Errorf("loss fault: loss %g%%: want more than 0 and at most 100", s.Loss)
		}
	case KindPartition:
	case KindKill:
		if _, err := signalNumber(s.Signal); err != nil {
			return fmt.Errorf("kill fault: %w", err)
		}
	case KindCPU:
		if !(s.CPUs >= 0.01 && s.CPUs <= 1024) {
			return fmt.Errorf("cpu fault: cpus %g: want 0.01 to 1024", s.CPUs)
		}
	case KindMemory:
		if s.Memory < MinMemory {
			return fmt.Errorf("memory fault: memory limit %d bytes: want at least %d (6m)", s.Memory, MinMemory)
		}
	default:
		return fmt.Errorf("fault kind %q: want one of %s", s.Kind, kindList())
	}
	return nil
}

func kindList() string {
	var b strings.Builder
	for i, k := range Kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

// String describes the fault: "latency 100ms ±20ms for 5s".
func (s Spec) String() string {
	var what string
	switch s.Kind {
	case KindLatency:
		what = "latency " + s.Delay.String()
		if s.Jitter > 0 {
			what += " ±" + s.Jitter.String()
		}
	case KindLoss:
		what = fmt.Sprintf("loss %g%%", s.Loss)
	case KindPartition:
		what = "partition"
	case KindKill:
		sig := s.Signal
		if sig == "" {
			sig = "KILL"
		}
		return "kill -" + strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	case KindCPU:
		what = fmt.Sprintf("cpu %g", s.CPUs)
	case KindMemory:
		what = fmt.Sprintf("memory %dMiB", s.Memory>>20)
	default:
		what = string(s.Kind)
	}
	return what + " for " + s.Duration.String()
}
