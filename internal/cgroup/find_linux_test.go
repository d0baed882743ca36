package cgroup

import (
	"errors"
	"strings"
	"testing"
)

const (
	hybridCgroup = `9:name=systemd:/
4:memory:/process_api/d6619df7
3:cpuset:/
0::/
`
	hybridMounts = `25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
29 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
35 25 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v2Cgroup = `0::/user.slice/user-1000.slice/session-2.scope
`
	v2Mounts = `24 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// A container whose cgroup namespace root is not the host's.
	nestedCgroup = `7:cpu,memory:/docker/abc/build
`
	nestedMounts = `40 30 0:50 /docker/abc /sys/fs/cgroup/cpu,memory ro,nosuid - cgroup cgroup rw,cpu,memory
`
	escapedMounts = `40 30 0:50 / /mnt/cgroup\040v2 rw - cgroup2 cgroup2 rw
`
)

func TestFindMemoryCgroup(t *testing.T) {
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	for _, tc := range []struct {
		name          string
		cgroup, mount string
		v2Memory      func(string) bool
		want          string
		wantV2        bool
		wantErr       string
	}{
		{"hybrid uses v1 memory", hybridCgroup, hybridMounts, yes, "/sys/fs/cgroup/memory/process_api/d6619df7", false, ""},
		{"unified", v2Cgroup, v2Mounts, yes, "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope", true, ""},
		{"unified without memory", v2Cgroup, v2Mounts, no, "", false, "does not have the memory controller"},
		{"hybrid v2 part only", "0::/\n", hybridMounts, no, "", false, "/sys/fs/cgroup/unified does not have"},
		{"nested root", nestedCgroup, nestedMounts, yes, "/sys/fs/cgroup/cpu,memory/build", false, ""},
		{"escaped mount point", "0::/a\n", escapedMounts, yes, "/mnt/cgroup v2/a", true, ""},
		{"nothing mounted", hybridCgroup, "", yes, "", false, "neither a cgroup v1 memory hierarchy nor cgroup v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, v2, err := findMemoryCgroup([]byte(tc.cgroup), []byte(tc.mount), tc.v2Memory)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrNoMemoryController) {
					t.Fatalf("findMemoryCgroup() = %q, %v, want an ErrNoMemoryController error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || v2 != tc.wantV2 {
				t.Fatalf("findMemoryCgroup() = %q, v2 %v, %v, want %q, v2 %v", got, v2, err, tc.want, tc.wantV2)
			}
		})
	}
}
