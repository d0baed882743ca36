package sandboxinit

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func testConfig() *Config {
	return &Config{
		Args: []string{"sh", "-c", "echo 'hi'"}, Env: []string{"A=1", "B="}, Dir: "/work", User: "app:wheel",
		Groups: []string{"audio"}, Hostname: "h", NewNet: true, RootIDs: true, StateDir: "/tmp/s",
		Overlay: &Overlay{Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w"},
		Mounts:  []Mount{{Source: "/src", Target: "/dst", ReadOnly: true}, {Target: "/tmp", Tmpfs: true, Size: 1 << 20}},
		Binfmt:  []string{":qemu-aarch64:M::\\x7fELF:\\xff:/usr/bin/qemu-aarch64-static:FOC"},
		Linux32: true, Ulimits: []Ulimit{{Name: "nofile", Resource: 7, Soft: 1024, Hard: ^uint64(0)}},
		ShmSize: 64 << 20, CheckELF: true, ELFClass: 2, ELFData: 1, ELFMachine: 183, Tty: true, ReadOnlyRoot: true,
		NoHostnameEnv: true, NoHostnameFile: true, Caps: []int64{0, 1, 40}, Seccomp: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Privileged: true, NoNewPrivs: true, PidsMax: "/sys/fs/cgroup/x/pids.max", PidsLimit: -1, PidsLeave: "/p",
	}
}

// TestConfigRoundTrip: every field of a Config and of Messages crosses the
// pipe unchanged, the messages as a stream of frames.
func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []*Config{testConfig(), {Args: []string{"true"}}} {
		got, err := ReadConfig(bytes.NewReader(AppendConfig(nil, c)))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("ReadConfig(AppendConfig(%+v)) = %+v, %v", c, got, err)
		}
	}
	ms := []Message{
		{Type: MsgSetupError, Step: "mounting /proc", Message: "permission denied", Errno: 1, Overlay: true},
		{Type: MsgArch, Command: "/bin/sh", ELFClass: 2, ELFData: 1, ELFMachine: 62},
		{Type: MsgExit, ExitCode: 137, Signal: 9, SetupMicros: 1234, RunMicros: -1},
	}
	var stream []byte
	for i := range ms {
		stream = AppendMessage(stream, &ms[i])
	}
	r := bytes.NewReader(stream)
	for _, want := range ms {
		got, err := ReadMessage(r)
		if err != nil || got != want {
			t.Errorf("ReadMessage = %+v, %v; want %+v", got, err, want)
		}
	}
	if _, err := ReadMessage(r); err != io.EOF {
		t.Errorf("ReadMessage at the end of the stream: %v, want io.EOF", err)
	}
}

// TestConfigDamaged: a cut or damaged frame is an error, never a panic
// or a huge allocation.
func TestConfigDamaged(t *testing.T) {
	b := AppendConfig(nil, testConfig())
	for n := 1; n < len(b); n++ {
		if _, err := ReadConfig(bytes.NewReader(b[:n])); err == nil {
			t.Fatalf("ReadConfig of the first %d of %d bytes succeeded", n, len(b))
		}
	}
	long := append([]byte{0x7f, 0xff, 0xff, 0xff}, b[4:]...)
	if _, err := ReadConfig(bytes.NewReader(long)); err == nil {
		t.Error("ReadConfig of a frame claiming 2 GiB succeeded")
	}
	extra := append(AppendConfig(nil, &Config{}), 0)
	extra[3]++
	if _, err := ReadConfig(bytes.NewReader(extra)); err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadConfig of a frame with a byte left over: %v, want an error saying so", err)
	}
}

func FuzzReadConfig(f *testing.F) {
	f.Add(AppendConfig(nil, testConfig()))
	f.Add(AppendMessage(nil, &Message{Type: MsgExit}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ReadConfig(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What decodes survives a round trip.
		again, err := ReadConfig(bytes.NewReader(AppendConfig(nil, c)))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Errorf("ReadConfig(AppendConfig(%+v)) = %+v, %v", c, again, err)
		}
		_, _ = ReadMessage(bytes.NewReader(b))
	})
}
