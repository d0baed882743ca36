package scan

import (
	"fmt"
	"strings"
)

// A versionScheme orders the versions of one ecosystem. compare returns
// -1, 0 or +1, or an error naming a version it cannot read.
type versionScheme interface {
	name() string
	compare(a, b string) (int, error)
}

// dpkgScheme is Debian's version order (Debian Policy 5.6.12, dpkg's
// verrevcmp): [epoch:]upstream[-revision], compared epoch first (a
// number), then upstream, then revision, each by alternating non-digit
// parts (letters before non-letters, '~' before everything, even the end)
// and digit parts (as numbers).
type dpkgScheme struct{}

func (dpkgScheme) name() string { return "dpkg" }

func (dpkgScheme) compare(a, b string) (int, error) {
	va, err := parseDpkg(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseDpkg(b)
	if err != nil {
		return 0, err
	}
	if va.epoch != vb.epoch {
		if va.epoch < vb.epoch {
			return -1, nil
		}
		return 1, nil
	}
	if c := verrevcmp(va.upstream, vb.upstream); c != 0 {
		return c, nil
	}
	return verrevcmp(va.revision, vb.revision), nil
}

type dpkgVersion struct {
	epoch              uint64
	upstream, revision string
}

// parseDpkg splits a Debian version as dpkg does: the epoch before the
// first ':', the revision after the last '-'. The upstream part must start
// with a digit in policy; dpkg only warns, and so this accepts it.
func parseDpkg(s string) (dpkgVersion, error) {
	var v dpkgVersion
	if s == "" {
		return v, fmt.Errorf("empty Debian version")
	}
	if strings.ContainsAny(s, " \t\n") {
		return v, fmt.Errorf("Debian version %q has white space", s)
	}
	rest := s
	if e, r, ok := strings.Cut(s, ":"); ok {
		if e == "" {
			return v, fmt.Errorf("Debian version %q has an empty epoch", s)
		}
		for _, c := range e {
			if c < '0' || c > '9' {
				return v, fmt.Errorf("Debian version %q: epoch %q is not a number", s, e)
			}
			v.epoch = v.epoch*10 + uint64(c-'0')
			if v.epoch > 1<<31 {
				return v, fmt.Errorf("Debian version %q: epoch %q is too large", s, e)
			}
		}
		rest = r
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.upstream, v.revision = rest[:i], rest[i+1:]
		if v.revision == "" {
			return v, fmt.Errorf("Debian version %q has an empty revision", s)
		}
	} else {
		v.upstream = rest
	}
	if v.upstream == "" {
		return v, fmt.Errorf("Debian version %q has an empty upstream version", s)
	}
	return v, nil
}

// dpkgOrder is the weight of one character of a non-digit part: '~'
// before the end of the part, the end before letters, letters before
// everything else (dpkg's order()).
func dpkgOrder(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp: alternating non-digit
// and digit parts; digits compared as numbers of any length.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		first := 0
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			var ac, bc int
			if i < len(a) {
				ac = dpkgOrder(a[i])
			}
			if j < len(b) {
				bc = dpkgOrder(b[j])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// apkScheme is Alpine's version order (apk-tools' version.c, 2.14 and
// 3.x): digits{.digits}...{letter}{_suffix{digits}}...{~hash}{-rN}, where
// the suffixes _alpha, _beta, _pre and _rc sort before the plain version
// and _cvs, _svn, _git, _hg and _p after it, ~hash is a commit and -rN
// the package revision. A number with a leading zero compares as a string.
type apkScheme struct{}

func (apkScheme) name() string { return "apk" }

// apk's token types, in apk-tools' order: when two versions agree up to
// where one ends or goes on with a later kind of token, that one is the
// smaller (1.2 < 1.2.1 < 1.2a < 1.2_p1 < 1.2-r1).
const (
	tokInitialDigit = iota
	tokDigit
	tokLetter
	tokSuffix
	tokSuffixNo
	tokCommitHash
	tokRevisionNo
	tokEnd
	tokInvalid
)

// apkSuffixes in order; "" stands for no suffix, which sorts between the
// pre-release and the post-release ones.
var apkSuffixes = []string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

const apkNoSuffix = 4

// apkToken is one token of an apk version and the rest of the version.
type apkToken struct {
	typ    int
	value  string // the token's text (digits, letter, suffix, hash)
	suffix int    // index in apkSuffixes, for tokSuffix
	rest   string
}

func apkFirst(s string) apkToken {
	t := apkToken{typ: tokInitialDigit, rest: s}
	t.digits()
	return t
}

func (t *apkToken) digits() {
	i := 0
	for i < len(t.rest) && isDigit(t.rest[i]) {
		i++
	}
	t.value, t.rest = t.rest[:i], t.rest[i:]
	if i == 0 {
		t.typ = tokInvalid
	}
}

// next reads the token after t, checking that it may follow t.
func (t *apkToken) next() {
	if t.rest == "" {
		t.typ = tokEnd
		return
	}
	c := t.rest[0]
	switch {
	case c >= 'a' && c <= 'z':
		if t.typ > tokDigit {
			break
		}
		t.typ, t.value, t.rest = tokLetter, t.rest[:1], t.rest[1:]
		return
	case c == '.' || isDigit(c):
		if c == '.' {
			if t.typ > tokDigit {
				break
			}
			t.rest = t.rest[1:]
		}
		switch t.typ {
		case tokInitialDigit, tokDigit:
			t.typ = tokDigit
		case tokSuffix:
			t.typ = tokSuffixNo
		default:
			t.typ = tokInvalid
			return
		}
		t.digits()
		return
	case c == '_':
		if t.typ > tokSuffixNo {
			break
		}
		i := 1
		for i < len(t.rest) && t.rest[i] >= 'a' && t.rest[i] <= 'z' {
			i++
		}
		name := t.rest[1:i]
		for k, suf := range apkSuffixes {
			if suf != "" && suf == name {
				t.typ, t.value, t.suffix, t.rest = tokSuffix, name, k, t.rest[i:]
				return
			}
		}
	case c == '~':
		if t.typ >= tokCommitHash {
			break
		}
		i := 1
		for i < len(t.rest) && (isDigit(t.rest[i]) || t.rest[i] >= 'a' && t.rest[i] <= 'f' || t.rest[i] >= 'A' && t.rest[i] <= 'F') {
			i++
		}
		if i == 1 {
			break
		}
		t.typ, t.value, t.rest = tokCommitHash, t.rest[1:i], t.rest[i:]
		return
	case c == '-':
		if t.typ >= tokRevisionNo || !strings.HasPrefix(t.rest, "-r") {
			break
		}
		t.typ, t.rest = tokRevisionNo, t.rest[2:]
		t.digits()
		return
	}
	t.typ = tokInvalid
}

// validAPK reports whether s is a version apk accepts (apk_version_validate).
func validAPK(s string) bool {
	t := apkFirst(s)
	for t.typ < tokEnd {
		t.next()
	}
	return t.typ == tokEnd
}

// cmpToken compares two tokens of the same type.
func cmpToken(a, b apkToken) int {
	switch a.typ {
	case tokDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			return strings.Compare(a.value, b.value) // as apk: 1.01 < 1.1
		}
		return cmpNumeric(a.value, b.value)
	case tokInitialDigit, tokSuffixNo, tokRevisionNo:
		return cmpNumeric(a.value, b.value)
	case tokSuffix:
		return sign(a.suffix - b.suffix)
	}
	return strings.Compare(a.value, b.value) // letters, commit hashes
}

func (apkScheme) compare(a, b string) (int, error) {
	for _, v := range []string{a, b} {
		if !validAPK(v) {
			return 0, fmt.Errorf("%q is not an Alpine package version", v)
		}
	}
	ta, tb := apkFirst(a), apkFirst(b)
	for ta.typ == tb.typ && ta.typ < tokEnd {
		if c := cmpToken(ta, tb); c != 0 {
			return c, nil
		}
		ta.next()
		tb.next()
	}
	switch {
	case ta.typ == tb.typ:
		return 0, nil
	// Equal so far and one goes on: the longer is greater, unless what
	// follows is a pre-release suffix.
	case ta.typ == tokSuffix && ta.suffix < apkNoSuffix:
		return -1, nil
	case tb.typ == tokSuffix && tb.suffix < apkNoSuffix:
		return 1, nil
	case ta.typ > tb.typ:
		return -1, nil
	}
	return 1, nil
}

// semverScheme is Semantic Versioning 2.0 as OSV's SEMVER ranges and the
// Go ecosystem write it: without the "v" Go module versions carry (it is
// accepted and ignored), build metadata ignored.
type semverScheme struct{}

func (semverScheme) name() string { return "semver" }

func (semverScheme) compare(a, b string) (int, error) {
	va, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	for i := range va.core {
		if c := cmpNumeric(va.core[i], vb.core[i]); c != 0 {
			return c, nil
		}
	}
	// A pre-release sorts before its release.
	switch {
	case va.pre == nil && vb.pre == nil:
		return 0, nil
	case va.pre == nil:
		return 1, nil
	case vb.pre == nil:
		return -1, nil
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		x, y := va.pre[i], vb.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = cmpNumeric(x, y)
		case xn:
			c = -1 // numeric identifiers sort before alphanumeric ones
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c, nil
		}
	}
	return sign(len(va.pre) - len(vb.pre)), nil
}

type semverVersion struct {
	core [3]string
	pre  []string // nil: a release
}

// parseSemver reads MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], with an
// optional leading "v"; a missing minor or patch is 0 (as Go's "v1.2").
func parseSemver(s string) (semverVersion, error) {
	var v semverVersion
	bad := func(why string) (semverVersion, error) {
		return semverVersion{}, fmt.Errorf("%q is not a semantic version (%s)", s, why)
	}
	rest := strings.TrimPrefix(s, "v")
	rest, _, _ = strings.Cut(rest, "+")
	rest, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return bad("more than three numbers")
	}
	v.core = [3]string{"0", "0", "0"}
	for i, p := range parts {
		if !isNumeric(p) {
			return bad(fmt.Sprintf("%q is not a number", p))
		}
		v.core[i] = p
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" {
				return bad("an empty pre-release identifier")
			}
			for i := 0; i < len(id); i++ {
				c := id[i]
				if !isDigit(c) && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
					return bad(fmt.Sprintf("pre-release identifier %q", id))
				}
			}
		}
	}
	return v, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// cmpNumeric compares two digit strings as numbers of any length.
func cmpNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

// goStdlibVersion is a Go release as the Go vulnerability database writes
// it: "1.21rc2" (go1.21rc2) is 1.21.0-rc.2, "1.20" is 1.20.0.
func goStdlibVersion(v string) string {
	for _, pre := range []string{"rc", "beta"} {
		if i := strings.Index(v, pre); i > 0 {
			base := v[:i]
			if strings.Count(base, ".") == 1 {
				base += ".0"
			}
			return base + "-" + pre + "." + v[i+len(pre):]
		}
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	return v
}

// rpmScheme is rpm's version order (rpmio/rpmver.cc rpmverCmp over
// rpmvercmp.cc): [epoch:]version[-release], the epoch (digits before a
// ':'; none is 0) compared first, then the version, then the release (a
// missing release sorts before any). Each part is compared by rpmvercmp:
// runs of digits (as numbers, leading zeros ignored) and of letters,
// other characters only separating them; a digit run is newer than a
// letter run; '~' sorts before everything, even the end of the string,
// and '^' after the end but before anything else.
type rpmScheme struct{}

func (rpmScheme) name() string { return "rpm" }

func (rpmScheme) compare(a, b string) (int, error) {
	ea, va, ra, err := parseEVR(a)
	if err != nil {
		return 0, err
	}
	eb, vb, rb, err := parseEVR(b)
	if err != nil {
		return 0, err
	}
	if c := rpmvercmp(ea, eb); c != 0 {
		return c, nil
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c, nil
	}
	switch {
	case ra == nil && rb == nil:
		return 0, nil
	case ra == nil:
		return -1, nil
	case rb == nil:
		return 1, nil
	}
	return rpmvercmp(*ra, *rb), nil
}

// parseEVR splits an rpm version as rpm's parseEVR does: the epoch is the
// leading digits if a ':' follows them ("0" if empty), the release what
// follows the last '-'.
func parseEVR(s string) (epoch, version string, release *string, err error) {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return "", "", nil, fmt.Errorf("rpm version %q is empty or has white space", s)
	}
	epoch, version = "0", s
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == ':' {
		if i > 0 {
			epoch = s[:i]
		}
		version = s[i+1:]
	}
	if j := strings.LastIndexByte(version, '-'); j >= 0 {
		r := version[j+1:]
		version, release = version[:j], &r
	}
	return epoch, version, release, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// rpmvercmp compares two version parts as rpm's rpmvercmp does.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlpha(a[i]) && !isDigit(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlpha(b[j]) && !isDigit(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		at := func(s string, k int) byte {
			if k < len(s) {
				return s[k]
			}
			return 0
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i, j = i+1, j+1
			continue
		}
		if ca == '^' || cb == '^' {
			switch {
			case ca == 0:
				return -1
			case cb == 0:
				return 1
			case ca != '^':
				return 1
			case cb != '^':
				return -1
			}
			i, j = i+1, j+1
			continue
		}
		if ca == 0 || cb == 0 {
			break
		}
		class := isAlpha
		num := isDigit(ca)
		if num {
			class = isDigit
		}
		ei, ej := i, j
		for ei < len(a) && class(a[ei]) {
			ei++
		}
		for ej < len(b) && class(b[ej]) {
			ej++
		}
		if ej == j { // b's segment is of the other kind
			if num {
				return 1
			}
			return -1
		}
		sa, sb := a[i:ei], b[j:ej]
		if num {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				return sign(len(sa) - len(sb))
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		i, j = ei, ej
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}
