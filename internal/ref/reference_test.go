package ref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in        string
		transport Transport
		name      string
		path, tag string
		str       string
	}{
		{in: "busybox", transport: Store, name: "busybox:latest", str: "busybox:latest"},
		{in: "fixtures/busybox:1.35", transport: Store, name: "fixtures/busybox:1.35"},
		{in: "docker.io/library/busybox:1.36", transport: Store, name: "busybox:1.36"},
		{in: "index.docker.io/library/busybox", transport: Store, name: "busybox:latest"},
		{in: "localhost:5000/app:v1", transport: Store, name: "localhost:5000/app:v1"},
		{in: "busybox@sha256:" + strings.Repeat("a", 64), transport: Store, name: "busybox@sha256:" + strings.Repeat("a", 64)},
		{in: "store:localhost:5000/app:v1", transport: Store, name: "localhost:5000/app:v1", str: "localhost:5000/app:v1"},
		{in: "store:busybox", transport: Store, name: "busybox:latest", str: "busybox:latest"},
		{in: "docker://registry.example.com/app:1.0", transport: Docker, name: "registry.example.com/app:1.0"},
		{in: "docker://busybox", transport: Docker, name: "index.docker.io/library/busybox:latest"},
		{in: "oci:/tmp/layout", transport: OCI, path: "/tmp/layout"},
		{in: "oci:./out:v1", transport: OCI, path: "./out", tag: "v1"},
		{in: "oci-archive:/tmp/bb.tar", transport: OCIArchive, path: "/tmp/bb.tar"},
		{in: "oci-archive:bb.tar:1.35", transport: OCIArchive, path: "bb.tar", tag: "1.35"},
		{in: "docker-archive:/tmp/x.tar", transport: DockerArchive, path: "/tmp/x.tar"},
		{in: "docker-archive:/tmp/x.tar:app:1", transport: DockerArchive, path: "/tmp/x.tar", name: "app:1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.in, err)
			}
			if r.Transport != tt.transport || r.Name != tt.name || r.Path != tt.path || r.Tag != tt.tag {
				t.Errorf("Parse(%q) = %+v, want transport %d name %q path %q tag %q", tt.in, r, tt.transport, tt.name, tt.path, tt.tag)
			}
			want := tt.str
			if want == "" {
				want = tt.in
				if tt.transport == Store || tt.transport == Docker {
					want = transportNames[tt.transport] + tt.name
				}
			}
			if got := r.String(); got != want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, want)
			}
			// String's output parses back to the same reference.
			again, err := Parse(r.String())
			if err != nil || again.String() != r.String() {
				t.Errorf("Parse(%q) = %v, %v; want a round trip", r.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty reference"},
		{"Busybox:UPPER CASE", "white space"},
		{"http://example.com/x", `unknown transport "http://"`},
		{"oci-layout:/tmp/x", `unknown transport "oci-layout:"`},
		{"docker://", "missing image name"},
		{"oci:", "needs a path"},
		{"oci-archive:", "needs a path"},
		{"docker-archive:", "needs a file path"},
		{"oci:/tmp/x:a/b", "may not contain"},
		{"UPPER/case:tag", `must be lower case; did you mean "upper/case:tag"?`},
		{"MyApp:1.0", `did you mean "myapp:1.0"?`},
		{"localhost:5000/App:Latest", `did you mean "localhost:5000/app:Latest"?`},
		{"UPPER/Case:tag tag", "white space"},
		{"busybox@sha256:short", "invalid reference"},
		// Issue #25 item 12: a name is never a path that climbs out.
		{"../x:1", `registry ".." has an empty label`},
		{"a/../b:1", `repository "a/../b" has a ".." path component`},
		{"localhost:5000/../x", `".." path component`},
		{"docker://a/./b", `"." path component`},
		{"a//b", "empty path component"},
		{"-a/b", `component "-a" must start and end`},
		{"docker-archive:/tmp/x.tar:../app:1", `registry ".."`},
		{"docker-archive:/tmp/x.tar:a/../app:1", `".." path component`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "oci-archive:FILE") {
			t.Errorf("Parse(%q) = %q, want it to contain %q and list the forms", tt.in, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "docker://a/b:c", "oci:/x:y", "oci-archive:f.tar", "docker-archive:f.tar:a:b", "a@sha256:00", ":", "://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(%q) = %v", s, r.String(), err)
		}
		if again.String() != r.String() {
			t.Fatalf("Parse(%q).String() = %q, then %q", s, r.String(), again.String())
		}
	})
}

func TestPinnedTag(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, name, pinned string }{
		{"bb@" + d, "bb@" + d, ""},
		{"bb:1@" + d, "bb@" + d, "bb:1"},
		{"127.0.0.1:5000/bb:2@" + d, "127.0.0.1:5000/bb@" + d, "127.0.0.1:5000/bb:2"},
		{"127.0.0.1:5000/bb@" + d, "127.0.0.1:5000/bb@" + d, ""}, // the port is no tag
		{"docker.io/library/busybox:1.36@" + d, "busybox@" + d, "busybox:1.36"},
		{"bb:1", "bb:1", ""},
	} {
		r, err := Parse(tc.in)
		if err != nil || r.Name != tc.name || r.PinnedTag() != tc.pinned {
			t.Errorf("Parse(%q) = %q pinned %q, %v, want %q pinned %q", tc.in, r.Name, r.PinnedTag(), err, tc.name, tc.pinned)
		}
	}
}
