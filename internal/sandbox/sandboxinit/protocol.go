package sandboxinit

import (
	"errors"
	"io"
	"strconv"
)

// The parent and the init talk over two pipes: the parent writes a header
// byte and one Config frame on the init's fd 3 (after it has written the
// ID maps) and closes it; the init writes Message frames on fd 4.
//
// A frame is a 4-byte big-endian length and a body; a body is the fields
// of a Config or Message in the order of its fields method, each a
// varint, a length-prefixed string or a count followed by the elements.
// Both ends are the same binary (the init is a re-exec of the parent), so
// the order is the whole schema. This is smaller to start than
// encoding/json, whose import closure holds reflect-based codecs the init
// does not need (see the package doc).

const (
	// ConfigFD is the init's end of the config pipe.
	ConfigFD = 3
	// StatusFD is the init's end of the status pipe.
	StatusFD = 4
	// maxFrame bounds a frame's body: a config holds paths and arguments,
	// a message one error text.
	maxFrame = 64 << 20
)

// Overlay is sandbox.Overlay with host paths resolved.
type Overlay struct {
	Lower []string
	Upper string
	Work  string
}

// Mount is sandbox.Mount with the source resolved on the host.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
	Tmpfs    bool
	Size     int64
}

// Ulimit is a resource limit (sandbox.Ulimit) with its RLIMIT_ number,
// which the parent looks up (it differs between architectures).
type Ulimit struct {
	Name       string
	Resource   int64
	Soft, Hard uint64
}

// Config is everything the init needs; host paths are already resolved.
type Config struct {
	Args     []string
	Env      []string
	Dir      string
	User     string
	Groups   []string
	Hostname string
	NewNet   bool
	RootIDs  bool // the whole ID range is mapped (setgroups allowed)
	StateDir string
	RootDir  string
	Overlay  *Overlay
	Mounts   []Mount
	// Binfmt are binfmt_misc register lines for the private instance,
	// ready to write (the parent added the F flag).
	Binfmt  []string
	Linux32 bool
	// Ulimits and ShmSize: Spec's.
	Ulimits []Ulimit
	ShmSize int64
	// CheckELF: report (a Message of type "arch") when the command is an
	// ELF program, or a #! script whose interpreter is one, whose class,
	// data encoding and machine are not ELFClass, ELFData and ELFMachine
	// (Spec.ExpectPlatform, resolved by the parent).
	CheckELF                      bool
	ELFClass, ELFData, ELFMachine int64
	// Tty: the command gets fd 0 as its controlling terminal (Spec.Tty).
	Tty bool
	// ReadOnlyRoot: the root mount is made read-only before the command
	// starts (Spec.ReadOnlyRoot).
	ReadOnlyRoot bool
	// NoHostnameEnv: HOSTNAME is not added to Env (Spec.NoHostnameEnv).
	NoHostnameEnv bool
	// NoHostnameFile: /etc/hostname is not bound (Spec.BuildKitEtc).
	NoHostnameFile bool
	// Caps are the capabilities kept in the bounding set (numbers).
	Caps []int64
	// Seccomp is the filter to install before the command starts (struct
	// sock_filter array, native byte order); empty is none.
	Seccomp []byte
	// Privileged leaves /proc and /sys paths unmasked and writable.
	Privileged bool
	NoNewPrivs bool
	// PidsMax is the pids.max file of the sandbox's pids cgroup (a host
	// path) and PidsLimit the container's limit (see pidsMax).
	PidsMax   string
	PidsLimit int64
	// PidsLeave is the cgroup.procs file of the pids cgroup's parent,
	// where the init moves itself once the command runs (cgroup v1), so
	// that only the container's tasks count.
	PidsLeave string
}

func (c *Config) fields(x coder) {
	x.strs(&c.Args)
	x.strs(&c.Env)
	x.str(&c.Dir)
	x.str(&c.User)
	x.strs(&c.Groups)
	x.str(&c.Hostname)
	x.bool(&c.NewNet)
	x.bool(&c.RootIDs)
	x.str(&c.StateDir)
	x.str(&c.RootDir)
	hasOverlay := c.Overlay != nil
	x.bool(&hasOverlay)
	if hasOverlay {
		if c.Overlay == nil {
			c.Overlay = &Overlay{}
		}
		x.strs(&c.Overlay.Lower)
		x.str(&c.Overlay.Upper)
		x.str(&c.Overlay.Work)
	}
	n := x.count(len(c.Mounts))
	if len(c.Mounts) != n {
		c.Mounts = make([]Mount, n)
	}
	for i := range c.Mounts {
		m := &c.Mounts[i]
		x.str(&m.Source)
		x.str(&m.Target)
		x.bool(&m.ReadOnly)
		x.bool(&m.Tmpfs)
		x.int(&m.Size)
	}
	x.strs(&c.Binfmt)
	x.bool(&c.Linux32)
	n = x.count(len(c.Ulimits))
	if len(c.Ulimits) != n {
		c.Ulimits = make([]Ulimit, n)
	}
	for i := range c.Ulimits {
		u := &c.Ulimits[i]
		x.str(&u.Name)
		x.int(&u.Resource)
		x.uint(&u.Soft)
		x.uint(&u.Hard)
	}
	x.int(&c.ShmSize)
	x.bool(&c.CheckELF)
	x.int(&c.ELFClass)
	x.int(&c.ELFData)
	x.int(&c.ELFMachine)
	x.bool(&c.Tty)
	x.bool(&c.ReadOnlyRoot)
	x.bool(&c.NoHostnameEnv)
	x.bool(&c.NoHostnameFile)
	n = x.count(len(c.Caps))
	if len(c.Caps) != n {
		c.Caps = make([]int64, n)
	}
	for i := range c.Caps {
		x.int(&c.Caps[i])
	}
	x.bytes(&c.Seccomp)
	x.bool(&c.Privileged)
	x.bool(&c.NoNewPrivs)
	x.str(&c.PidsMax)
	x.int(&c.PidsLimit)
	x.str(&c.PidsLeave)
}

// Message types.
const (
	// MsgStarted: the command was forked; more follows.
	MsgStarted = "started"
	// MsgWarning: Message is a warning; more follows.
	MsgWarning = "warning"
	// MsgArch: the command (Command: the program, or a #! script's
	// interpreter, Message then names the script) is an ELF program of
	// ELFClass, ELFData and ELFMachine, not of Config's; more follows.
	MsgArch = "arch"
	// MsgExecError: the command could not be started (Code 126 or 127).
	MsgExecError = "exec-error"
	// MsgSetupError: the container could not be prepared (Step).
	MsgSetupError = "setup-error"
	// MsgExit: the command ended (ExitCode, Signal).
	MsgExit = "exit"
)

// Message is a report of the init.
type Message struct {
	Type string

	// exec-error, setup-error
	Step     string
	Command  string
	Message  string
	Errno    int64
	NotFound bool
	Code     int64
	// Overlay: the setup error is the overlay root's mount (OverlayError).
	Overlay bool

	// arch
	ELFClass, ELFData, ELFMachine int64

	// exit
	ExitCode int64
	Signal   int64
	// SetupMicros and RunMicros are how long the init took to prepare the
	// container and how long the command ran, for debug logs.
	SetupMicros int64
	RunMicros   int64
}

func (m *Message) fields(x coder) {
	x.str(&m.Type)
	x.str(&m.Step)
	x.str(&m.Command)
	x.str(&m.Message)
	x.int(&m.Errno)
	x.bool(&m.NotFound)
	x.int(&m.Code)
	x.bool(&m.Overlay)
	x.int(&m.ELFClass)
	x.int(&m.ELFData)
	x.int(&m.ELFMachine)
	x.int(&m.ExitCode)
	x.int(&m.Signal)
	x.int(&m.SetupMicros)
	x.int(&m.RunMicros)
}

// coder is an encoder or a decoder: the fields methods call it for each
// field in order; the encoder reads the pointer, the decoder sets it.
type coder interface {
	str(*string)
	strs(*[]string)
	bytes(*[]byte)
	int(*int64)
	uint(*uint64)
	bool(*bool)
	// count encodes n, or returns the decoded count of a list.
	count(n int) int
}

// AppendConfig appends c's frame to b.
func AppendConfig(b []byte, c *Config) []byte { return appendFrame(b, c.fields) }

// AppendMessage appends m's frame to b.
func AppendMessage(b []byte, m *Message) []byte { return appendFrame(b, m.fields) }

// ReadConfig reads one Config frame from r.
func ReadConfig(r io.Reader) (*Config, error) {
	c := &Config{}
	if err := readFrame(r, c.fields); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadMessage reads one Message frame from r; io.EOF when r ended
// between frames.
func ReadMessage(r io.Reader) (Message, error) {
	var m Message
	err := readFrame(r, m.fields)
	return m, err
}

func appendFrame(b []byte, fields func(coder)) []byte {
	start := len(b)
	e := &encoder{b: append(b, 0, 0, 0, 0)}
	fields(e)
	n := len(e.b) - start - 4
	e.b[start], e.b[start+1], e.b[start+2], e.b[start+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return e.b
}

func readFrame(r io.Reader, fields func(coder)) error {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	n := int(h[0])<<24 | int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if n > maxFrame {
		return errors.New("sandbox init protocol: frame of " + strconv.Itoa(n) + " bytes is over the limit")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	d := &decoder{b: body}
	fields(d)
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("sandbox init protocol: " + strconv.Itoa(len(d.b)) + " bytes left after the last field")
	}
	return d.err
}

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) {
	for v >= 0x80 {
		e.b = append(e.b, byte(v)|0x80)
		v >>= 7
	}
	e.b = append(e.b, byte(v))
}

func (e *encoder) str(s *string) { e.uvarint(uint64(len(*s))); e.b = append(e.b, *s...) }
func (e *encoder) bytes(p *[]byte) {
	e.uvarint(uint64(len(*p)))
	e.b = append(e.b, *p...)
}
func (e *encoder) strs(ss *[]string) {
	e.uvarint(uint64(len(*ss)))
	for i := range *ss {
		e.str(&(*ss)[i])
	}
}
func (e *encoder) int(v *int64)   { e.uvarint(uint64(*v<<1) ^ uint64(*v>>63)) }
func (e *encoder) uint(v *uint64) { e.uvarint(*v) }
func (e *encoder) bool(v *bool) {
	if *v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) count(n int) int { e.uvarint(uint64(n)); return n }

// decoder reads fields from b; after the first error it sets nothing more.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("sandbox init protocol: frame ends inside a field")

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); d.err == nil; shift += 7 {
		if len(d.b) == 0 || shift > 63 {
			d.err = errShort
			break
		}
		c := d.b[0]
		d.b = d.b[1:]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	return 0
}

// length decodes a length or count of items that take at least one byte
// each, so a damaged frame cannot make the decoder allocate more than the
// frame holds.
func (d *decoder) length() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *decoder) str(s *string) {
	n := d.length()
	*s = string(d.b[:n])
	d.b = d.b[n:]
}
func (d *decoder) bytes(p *[]byte) {
	n := d.length()
	*p = nil
	if n > 0 {
		*p = append([]byte(nil), d.b[:n]...)
	}
	d.b = d.b[n:]
}
func (d *decoder) strs(ss *[]string) {
	n := d.length()
	*ss = nil
	if n > 0 {
		*ss = make([]string, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		d.str(&(*ss)[i])
	}
}
func (d *decoder) int(v *int64) {
	u := d.uvarint()
	*v = int64(u>>1) ^ -int64(u&1)
}
func (d *decoder) uint(v *uint64) { *v = d.uvarint() }
func (d *decoder) bool(v *bool) {
	if len(d.b) == 0 {
		if d.err == nil {
			d.err = errShort
		}
		return
	}
	*v = d.b[0] != 0
	d.b = d.b[1:]
}
func (d *decoder) count(int) int { return d.length() }
