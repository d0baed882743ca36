package sandbox

import (
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1", "QEMU_CPU=arm926", "A=2", "B", "PATH=/usr/bin"})
	want := []string{"PATH=/usr/bin", "A=2", "QEMU_CPU=arm926", "B"}
	if !slices.Equal(got, want) {
		t.Errorf("MergeEnv = %q, want %q", got, want)
	}
}
