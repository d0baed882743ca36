package sandboxinit

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// TestResolveUser: the primary group is also the first supplementary
// group, as BuildKit's testUserAdditionalGids and runc (issue #26 item 8).
func TestResolveUser(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		"etc/group":  {Data: []byte("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\nnogroup:x:65534:\n")},
	}
	for _, tc := range []struct {
		spec    string
		extra   []string
		want    execUser
		wantErr string
	}{
		{"", nil, execUser{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}, ""},
		{"root", nil, execUser{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}, ""},
		{"app", nil, execUser{UID: 1000, GID: 1000, Groups: []uint32{1000, 10, 29}, Home: "/home/app"}, ""},
		{"1000", nil, execUser{UID: 1000, GID: 1000, Groups: []uint32{1000, 10, 29}, Home: "/home/app"}, ""},
		{"app:wheel", nil, execUser{UID: 1000, GID: 10, Groups: []uint32{10}, Home: "/home/app"}, ""},
		{"app:65534", nil, execUser{UID: 1000, GID: 65534, Groups: []uint32{65534}, Home: "/home/app"}, ""},
		{"4242", nil, execUser{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}, ""},
		{"4242:4243", []string{"audio", "7"}, execUser{UID: 4242, GID: 4243, Groups: []uint32{4243, 29, 7}, Home: "/"}, ""},
		{"nosuch", nil, execUser{}, `user "nosuch": no such user`},
		{"app:nosuch", nil, execUser{}, `group "nosuch": no such group`},
		{"app:", nil, execUser{}, "empty group name"},
		{"0", []string{"nogrp"}, execUser{}, `group "nogrp"`},
		{"4294967295", nil, execUser{}, `user "4294967295"`},
	} {
		got, err := resolveUser(fsys, tc.spec, tc.extra)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("resolveUser(%q, %q) error = %v, want it to contain %q", tc.spec, tc.extra, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("resolveUser(%q, %q) = %+v, %v; want %+v", tc.spec, tc.extra, got, err, tc.want)
		}
	}
}

func TestResolveUserNoFiles(t *testing.T) {
	// A scratch image: numeric IDs work, names do not.
	got, err := resolveUser(fstest.MapFS{}, "10:20", nil)
	if want := (execUser{UID: 10, GID: 20, Groups: []uint32{20}, Home: "/"}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("resolveUser(scratch, 10:20) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := resolveUser(fstest.MapFS{}, "app", nil); err == nil {
		t.Errorf("resolveUser(scratch, app) succeeded, want an error")
	}
}

func FuzzResolveUser(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\nwheel:x:10:root\n", "root")
	f.Add("a:x:1:2::/h:/s\n", "g:x:3:a,b\n", "1:g")
	f.Fuzz(func(t *testing.T, passwd, group, spec string) {
		fsys := fstest.MapFS{"etc/passwd": {Data: []byte(passwd)}, "etc/group": {Data: []byte(group)}}
		u, err := resolveUser(fsys, spec, nil)
		if err == nil && u.Home == "" {
			t.Errorf("resolveUser(%q) = %+v with an empty home", spec, u)
		}
	})
}

// TestResolveUserBoundedFiles: an image whose /etc/passwd or /etc/group is
// endless or has an endless line gets an error naming the file.
func TestResolveUserBoundedFiles(t *testing.T) {
	longLine := strings.Repeat("\x00", maxColonLine+10)
	manyLines := strings.Repeat("u:x:1:1::/:/bin/sh\n", maxColonFile/19+10)
	for _, c := range []struct {
		file, data, want string
	}{
		{"etc/passwd", longLine, "reading /etc/passwd of the image: line 1 is longer than 64 KiB (is it a link to a device such as /dev/zero"},
		{"etc/group", "root:x:0:\n" + longLine, "reading /etc/group of the image: line 2 is longer than 64 KiB"},
		{"etc/passwd", manyLines, "reading /etc/passwd of the image: larger than 16 MiB"},
	} {
		fsys := fstest.MapFS{c.file: {Data: []byte(c.data)}}
		_, err := resolveUser(fsys, "", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s of %d bytes: error %v, want %q", c.file, len(c.data), err, c.want)
		}
	}
}
