package cgroup

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"6m", 6 << 20},
		{"512m", 512 << 20},
		{"512M", 512 << 20},
		{"512MB", 512 << 20},
		{"512MiB", 512 << 20},
		{"2g", 2 << 30},
		{"1.5GiB", 3 << 29},
		{"8388608", 8 << 20},
		{"8388608b", 8 << 20},
		{"16384k", 16 << 20},
		{"1t", 1 << 40},
		{" 64m ", 64 << 20},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "m", "-1g", "1x", "5m", "1024", "12 m", "1e400", "NaN"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{512, "512B"},
		{64 << 20, "64MiB"},
		{3 << 29, "1.5GiB"},
		{1 << 40, "1TiB"},
		{5000 << 40, "5000TiB"},
		{100 << 20 / 3, "33.33MiB"},
	} {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
