package emulation

import (
	"debug/elf"
	"fmt"
	"sync"

	"github.com/manyarch/manyarch/internal/emulation/probes"
	"github.com/manyarch/manyarch/internal/platform"
)

// ProbeMode says how Probe runs a probe.
type ProbeMode int

const (
	// ProbeDirect executes the probe from a temporary directory, as any
	// program runs: natively, or through whatever handler catches it.
	ProbeDirect ProbeMode = iota
	// ProbeChroot executes the probe in a chroot holding nothing but the
	// probe, so an emulator must have been opened at registration (the F
	// flag). Needs root.
	ProbeChroot
	// ProbePrivate executes the probe in a new user and mount namespace
	// with a private binfmt_misc instance holding only the platform's
	// handler (F flag), in a chroot holding only the probe. Needs Linux
	// 6.7, user namespaces, a static QEMU for the platform, and Init
	// called from main.
	ProbePrivate
)

func (m ProbeMode) String() string {
	switch m {
	case ProbeDirect:
		return "direct"
	case ProbeChroot:
		return "chroot"
	case ProbePrivate:
		return "private"
	}
	return fmt.Sprintf("ProbeMode(%d)", int(m))
}

// ProbeResult is what running a probe showed.
type ProbeResult struct {
	// OK is true when the probe printed ProbeMessage(a) and exited 0.
	OK bool
	// Output is what it printed on stdout and stderr (trimmed), and Err
	// how it failed, when it did.
	Output string
	Err    error
}

// ProbeMessage is what a's probe prints: "manyarch probe linux/arm64 ok\n".
func ProbeMessage(a platform.Arch) string {
	return "manyarch probe " + a.String() + " ok\n"
}

// probeTarget is the ELF flavour of a's probe.
func probeTarget(a platform.Arch) probes.Target {
	t := probes.Target{Class: a.ELFClass, Data: a.ELFData, Machine: a.ELFMachine}
	if a.ELFMachine == elf.EM_ARM {
		t.Flags = probes.FlagARMEABI5 | probes.FlagARMHardFloat
		if a.ARMFloat == platform.ARMFloatSoft {
			t.Flags = probes.FlagARMEABI5 | probes.FlagARMSoftFloat
		}
	}
	return t
}

var probeCache sync.Map // platform string -> []byte

// probeBinary returns a's probe executable.
func probeBinary(a platform.Arch) ([]byte, error) {
	key := a.String()
	if b, ok := probeCache.Load(key); ok {
		return b.([]byte), nil
	}
	b, err := probes.Build(probeTarget(a), ProbeMessage(a))
	if err != nil {
		return nil, fmt.Errorf("building the probe for %s: %w", a, err)
	}
	probeCache.Store(key, b)
	return b, nil
}
