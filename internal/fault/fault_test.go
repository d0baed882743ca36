package fault

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Spec
		want string // "" : valid
	}{
		{Spec{Kind: KindLatency, Duration: time.Second, Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}, ""},
		{Spec{Kind: KindLatency, Duration: time.Second}, "delay 0s"},
		{Spec{Kind: KindLatency, Duration: time.Second, Delay: time.Millisecond, Jitter: time.Second}, "jitter 1s"},
		{Spec{Kind: KindLoss, Duration: time.Second, Loss: 30}, ""},
		{Spec{Kind: KindLoss, Duration: time.Second, Loss: 130}, "loss 130%"},
		{Spec{Kind: KindPartition, Duration: 11 * time.Minute}, "duration 11m0s"},
		{Spec{Kind: KindPartition}, "duration 0s"},
		{Spec{Kind: KindCPU, Duration: time.Second, CPUs: 0.001}, "cpus 0.001"},
		{Spec{Kind: KindMemory, Duration: time.Second, Memory: 1 << 20}, "at least"},
		{Spec{Kind: KindMemory, Duration: time.Second, Memory: 64 << 20}, ""},
		{Spec{Kind: "flood", Duration: time.Second}, `fault kind "flood": want one of latency, loss, partition, kill, cpu, memory`},
	} {
		err := tc.s.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
	if runtime.GOOS == "linux" {
		for _, sig := range []string{"", "KILL", "sigterm", "segv", "9"} {
			if err := (Spec{Kind: KindKill, Signal: sig}).Validate(); err != nil {
				t.Errorf("Validate(kill -%s) = %v, want nil", sig, err)
			}
		}
		if err := (Spec{Kind: KindKill, Signal: "NOPE"}).Validate(); err == nil || !strings.Contains(err.Error(), `signal "NOPE"`) {
			t.Errorf("Validate(kill -NOPE) = %v, want an error naming the signal", err)
		}
	}
}

func TestSpecString(t *testing.T) {
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Kind: KindLatency, Duration: 5 * time.Second, Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}, "latency 100ms ±20ms for 5s"},
		{Spec{Kind: KindLoss, Duration: time.Second, Loss: 12.5}, "loss 12.5% for 1s"},
		{Spec{Kind: KindKill, Signal: "sigterm"}, "kill -TERM"},
		{Spec{Kind: KindMemory, Duration: time.Second, Memory: 64 << 20}, "memory 64MiB for 1s"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestUnsupportedErrorMessage(t *testing.T) {
	inner := errors.New("Specified qdisc kind is unknown")
	err := error(&UnsupportedError{Platform: "linux/arm64", Kind: KindLatency, Missing: "netem qdisc", Fix: "modprobe sch_netem", Err: inner})
	want := "linux/arm64: cannot inject a latency fault: this host has no netem qdisc (Specified qdisc kind is unknown); modprobe sch_netem"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if got := (&UnsupportedError{Platform: "linux/s390x", Missing: "root privileges"}).Error(); got != "linux/s390x: cannot inject faults: this host has no root privileges" {
		t.Errorf("Error() without a kind = %q", got)
	}
	if !errors.Is(err, inner) {
		t.Errorf("errors.Is(%v, inner) = false, want true", err)
	}
}
