package verify

import (
	"bytes"
	"encoding/binary"
	"runtime/debug"
)

// buildInfoMagic starts a Go binary's .go.buildinfo section, which the Go
// linker (1.18 and later) puts at the start of the writable data segment, on
// a 16-byte boundary: debug/buildinfo looks for it the same way.
var buildInfoMagic = []byte("\xff Go buildinf:")

// goInfo is what verify uses of a Go binary's build information.
type goInfo struct {
	Version string // go1.26.1
	GOARCH  string
	GOARM   string // "7", "6,softfloat"
	GOAMD64 string // "v3"
	GOOS    string
}

// findGoBuildInfo looks for the build information in b, which holds the
// bytes at the start of the writable segment. Only the inline format of Go
// 1.18 and later is read; older binaries return false.
func findGoBuildInfo(b []byte) (goInfo, bool) {
	for off := 0; off+32 <= len(b); off += 16 {
		if !bytes.Equal(b[off:off+len(buildInfoMagic)], buildInfoMagic) {
			continue
		}
		flags := b[off+15]
		if flags&2 == 0 {
			return goInfo{}, false // pointer format: needs the whole binary
		}
		rest := b[off+32:]
		vers, rest, ok := varintString(rest)
		if !ok {
			return goInfo{}, false
		}
		mod, _, ok := varintString(rest)
		if !ok {
			return goInfo{}, false
		}
		// The module information is framed by 16-byte sentinels.
		if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
			mod = mod[16 : len(mod)-16]
		} else {
			mod = ""
		}
		gi := goInfo{Version: vers}
		if bi, err := debug.ParseBuildInfo(mod); err == nil {
			for _, s := range bi.Settings {
				switch s.Key {
				case "GOARCH":
					gi.GOARCH = s.Value
				case "GOARM":
					gi.GOARM = s.Value
				case "GOAMD64":
					gi.GOAMD64 = s.Value
				case "GOOS":
					gi.GOOS = s.Value
				}
			}
		}
		return gi, true
	}
	return goInfo{}, false
}

func varintString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
