//go:build unix

package engine

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		in   string
		want Output
	}{
		{"type=oci,dest=out.tar", Output{Type: "oci", Dest: "out.tar", Attrs: map[string]string{}}},
		{"type=local,dest=./dist", Output{Type: "local", Dest: "./dist", Attrs: map[string]string{}}},
		{"./dist", Output{Type: "local", Dest: "./dist", Attrs: map[string]string{}}},
		{"-", Output{Type: "tar", Dest: "-", Attrs: map[string]string{}}},
		{"type=registry", Output{Type: "registry", Attrs: map[string]string{}}},
		{`type=image,"name=a:1,b:2",push=true`, Output{Type: "image", Attrs: map[string]string{"name": "a:1,b:2", "push": "true"}}},
		{"type=docker,dest=img.tar,compression=zstd", Output{Type: "docker", Dest: "img.tar", Attrs: map[string]string{"compression": "zstd"}}},
	}
	for _, tt := range tests {
		got, err := ParseOutput(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseOutput(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "type=nfs,dest=x", "dest=x", "type=local", "type=oci", "type=oci,dest=a,x", "type=oci,dest=a,k=1,k=2", `type="oci`} {
		if got, err := ParseOutput(bad); !errors.Is(err, ErrBadOutput) {
			t.Errorf("ParseOutput(%q) = %+v, %v, want an ErrBadOutput error", bad, got, err)
		}
	}
}
