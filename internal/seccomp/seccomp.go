//go:build linux

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"

	sarch "github.com/elastic/go-seccomp-bpf/arch"
	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter (<linux/seccomp.h>).
const (
	RetKillProcess uint32 = 0x80000000
	RetKillThread  uint32 = 0x00000000
	RetTrap        uint32 = 0x00030000
	RetErrno       uint32 = 0x00050000
	RetTrace       uint32 = 0x7ff00000
	RetLog         uint32 = 0x7ffc0000
	RetAllow       uint32 = 0x7fff0000
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// abi is one syscall ABI of the host: the audit architecture seccomp_data
// carries and the syscall table.
type abi struct {
	name  specs.Arch
	audit uint32
	mask  uint32 // ORed into the numbers (x32)
	info  *sarch.Info
}

var abis = map[specs.Arch]abi{
	specs.ArchX86_64:  {specs.ArchX86_64, uint32(sarch.X86_64.ID), 0, sarch.X86_64},
	specs.ArchX86:     {specs.ArchX86, uint32(sarch.I386.ID), 0, sarch.I386},
	specs.ArchX32:     {specs.ArchX32, uint32(sarch.X32.ID), uint32(sarch.X32.SeccompMask), sarch.X32},
	specs.ArchAARCH64: {specs.ArchAARCH64, uint32(sarch.AARCH64.ID), 0, sarch.AARCH64},
	specs.ArchARM:     {specs.ArchARM, uint32(sarch.ARM.ID), 0, sarch.ARM},
}

// nativeArch is the seccomp architecture of the host (GOARCH).
func nativeArch() (specs.Arch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return specs.ArchX86_64, nil
	case "arm64":
		return specs.ArchAARCH64, nil
	}
	return "", fmt.Errorf("seccomp: no syscall table for host architecture %s (manyarch compiles filters for amd64 and arm64 hosts); run with --security-opt seccomp=unconfined", runtime.GOARCH)
}

// Resolve turns a profile into the rules for a container with the given
// capabilities (names such as "CAP_SYS_ADMIN") on this host: profileJSON
// empty is Docker's default profile, else a JSON profile in Docker's
// format. name says where a JSON profile came from, for errors.
func Resolve(profileJSON, name string, caps []string) (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	if profileJSON == "" {
		p, err := profiles.GetDefaultProfile(rs)
		if err != nil {
			return nil, fmt.Errorf("seccomp: Docker's default profile: %w", err)
		}
		return p, nil
	}
	p, err := profiles.LoadProfile(profileJSON, rs)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
	}
	if p == nil {
		return nil, fmt.Errorf("seccomp profile %s has no defaultAction and no syscalls (use --security-opt seccomp=unconfined for no filter)", name)
	}
	return p, nil
}

// Compile compiles a resolved profile into a BPF program for the host's
// ABIs that the profile lists (the native one only when it lists none).
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	native, err := nativeArch()
	if err != nil {
		return nil, err
	}
	return compileFor(p, native, binary.NativeEndian.Uint16([]byte{1, 0}) == 1)
}

// rule is one (syscall, conditions, action) of the program.
type rule struct {
	conds  []specs.LinuxSeccompArg // ANDed
	action uint32
}

func compileFor(p *specs.LinuxSeccomp, native specs.Arch, littleEndian bool) ([]unix.SockFilter, error) {
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp defaultAction: %w", err)
	}
	// The ABIs: those listed that belong to this host, native first.
	related := map[specs.Arch][]specs.Arch{
		specs.ArchX86_64:  {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		specs.ArchAARCH64: {specs.ArchAARCH64, specs.ArchARM},
	}[native]
	var use []abi
	if len(p.Architectures) == 0 {
		use = []abi{abis[native]}
	} else {
		for _, a := range related {
			if slices.Contains(p.Architectures, a) {
				use = append(use, abis[a])
			}
		}
		if len(use) == 0 || use[0].name != native {
			return nil, fmt.Errorf("seccomp profile lists architectures %v but not the host's %s", p.Architectures, native)
		}
	}

	c := &compiler{little: littleEndian}
	c.emit(bpf.LoadAbsolute{Off: offArch, Size: 4})
	// Dispatch on the audit architecture (x86_64 and x32 share one).
	var audits []uint32
	byAudit := map[uint32][]abi{}
	for _, a := range use {
		if _, ok := byAudit[a.audit]; !ok {
			audits = append(audits, a.audit)
		}
		byAudit[a.audit] = append(byAudit[a.audit], a)
	}
	for _, au := range audits {
		c.longJumpIf(bpf.JumpEqual, au, label(fmt.Sprintf("arch-%x", au)))
	}
	c.emit(bpf.RetConstant{Val: RetKillProcess})
	for _, au := range audits {
		c.mark(label(fmt.Sprintf("arch-%x", au)))
		c.emit(bpf.LoadAbsolute{Off: offNr, Size: 4})
		group := byAudit[au]
		var plain, x32 *abi
		for i := range group {
			if group[i].mask != 0 {
				x32 = &group[i]
			} else {
				plain = &group[i]
			}
		}
		if au == uint32(sarch.X86_64.ID) {
			// x32 numbers have bit 30 set.
			l := label(fmt.Sprintf("x32-%x", au))
			if x32 == nil {
				c.emit(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(sarch.X32.SeccompMask), SkipFalse: 1})
				c.emit(bpf.RetConstant{Val: RetKillProcess})
			} else {
				c.longJumpIf(bpf.JumpBitsSet, uint32(sarch.X32.SeccompMask), l)
			}
			if plain != nil {
				if err := c.body(p, *plain, def); err != nil {
					return nil, err
				}
			} else {
				c.emit(bpf.RetConstant{Val: RetKillProcess})
			}
			if x32 != nil {
				c.mark(l)
				if err := c.body(p, *x32, def); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := c.body(p, *plain, def); err != nil {
			return nil, err
		}
	}
	return c.assemble()
}

// body emits the checks of one ABI; the syscall number is in A.
func (c *compiler) body(p *specs.LinuxSeccomp, a abi, def uint32) error {
	numbers, maxNr := syscallNumbers(a)
	rules, order, err := abiRules(p, a, numbers)
	if err != nil {
		return err
	}
	// Newer than the table: ENOSYS, so libraries fall back.
	c.jumpIf(bpf.JumpGreaterThan, maxNr|a.mask, "", "")
	c.patchLastTrue(0)
	c.patchLastFalse(1)
	c.emit(bpf.RetConstant{Val: RetErrno | uint32(unix.ENOSYS)})

	for _, nr := range c.unconditional(rules, order, def) {
		c.conditional(nr, rules[nr], def)
	}
	c.emit(bpf.RetConstant{Val: def})
	return nil
}

// syscallNumbers maps each syscall name of a to its numbers, sorted, and
// returns the highest number. Numbers by name come from SyscallNumbers: a
// name can have several numbers (x32 has 36 such, execve is 59 and 520),
// and the package's SyscallNames keeps one of them, a different one from
// run to run (it is built by ranging over a map). Every number of a name
// gets the name's rules, in a fixed order.
func syscallNumbers(a abi) (map[string][]int, uint32) {
	maxNr := uint32(0)
	numbers := map[string][]int{}
	for n, name := range a.info.SyscallNumbers {
		if uint32(n) > maxNr {
			maxNr = uint32(n)
		}
		numbers[name] = append(numbers[name], n)
	}
	for _, ns := range numbers {
		slices.Sort(ns)
	}
	return numbers, maxNr
}

// abiRules gives the rules of each syscall number of a (with a's mask),
// and the numbers in the order the profile first names them.
func abiRules(p *specs.LinuxSeccomp, a abi, numbers map[string][]int) (map[uint32][]rule, []uint32, error) {
	rules := map[uint32][]rule{}
	var order []uint32
	for i, sc := range p.Syscalls {
		rs, err := syscallRules(sc)
		if err != nil {
			return nil, nil, fmt.Errorf("seccomp syscalls[%d] (%v): %w", i, sc.Names, err)
		}
		for _, name := range sc.Names {
			// A name this ABI does not have has no numbers: skipped.
			for _, n := range numbers[name] {
				nr := uint32(n) | a.mask
				if _, seen := rules[nr]; !seen {
					order = append(order, nr)
				}
				rules[nr] = append(rules[nr], rs...)
			}
		}
	}
	return rules, order, nil
}

// syscallRules turns one syscalls entry into rules: conditions on distinct
// arguments in one rule (all must hold), and each condition on an argument
// named more than once in a rule of its own (any may hold), as runc does.
func syscallRules(sc specs.LinuxSyscall) ([]rule, error) {
	act, err := action(sc.Action, sc.ErrnoRet)
	if err != nil {
		return nil, err
	}
	for _, arg := range sc.Args {
		if arg.Index > 5 {
			return nil, fmt.Errorf("argument index %d is above 5", arg.Index)
		}
		if _, err := condSize(arg.Op); err != nil {
			return nil, err
		}
	}
	var rs []rule
	counts := map[uint]int{}
	for _, arg := range sc.Args {
		counts[arg.Index]++
	}
	var together []specs.LinuxSeccompArg
	for _, arg := range sc.Args {
		if counts[arg.Index] > 1 {
			rs = append(rs, rule{conds: []specs.LinuxSeccompArg{arg}, action: act})
		} else {
			together = append(together, arg)
		}
	}
	if len(together) > 0 || len(sc.Args) == 0 {
		rs = append(rs, rule{conds: together, action: act})
	}
	return rs, nil
}

// unconditional emits the syscalls whose one rule has no condition,
// grouped by action, in chains of jeq whose targets stay within a
// conditional jump's 255 instructions; it returns the other numbers, in
// order.
func (c *compiler) unconditional(rules map[uint32][]rule, order []uint32, def uint32) (conditional []uint32) {
	byAction := map[uint32][]uint32{}
	var actions []uint32
	for _, nr := range order {
		rs := rules[nr]
		if len(rs) == 1 && len(rs[0].conds) == 0 {
			if rs[0].action == def {
				continue
			}
			if _, ok := byAction[rs[0].action]; !ok {
				actions = append(actions, rs[0].action)
			}
			byAction[rs[0].action] = append(byAction[rs[0].action], nr)
			continue
		}
		conditional = append(conditional, nr)
	}
	for _, act := range actions {
		nrs := byAction[act]
		sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
		for len(nrs) > 0 {
			chunk := nrs[:min(len(nrs), 100)]
			nrs = nrs[len(chunk):]
			for i, nr := range chunk {
				c.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: uint8(len(chunk) - i)})
			}
			c.emit(bpf.Jump{Skip: 1})
			c.emit(bpf.RetConstant{Val: act})
		}
	}
	return conditional
}

// conditional emits the rules of syscall nr: conditional rules first, in
// profile order, then the first unconditional one, then the default.
func (c *compiler) conditional(nr uint32, rs []rule, def uint32) {
	end := c.newLabel()
	c.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: 1})
	c.jumpAlways(end)
	var catchAll *rule
	for i := range rs {
		if len(rs[i].conds) == 0 {
			if catchAll == nil {
				catchAll = &rs[i]
			}
			continue
		}
		next := c.newLabel()
		for _, cond := range rs[i].conds {
			c.cond(cond, next)
		}
		c.emit(bpf.RetConstant{Val: rs[i].action})
		c.mark(next)
		// The loads clobbered A: reload the number for the next rule.
		c.emit(bpf.LoadAbsolute{Off: offNr, Size: 4})
	}
	if catchAll != nil {
		c.emit(bpf.RetConstant{Val: catchAll.action})
	} else {
		c.emit(bpf.RetConstant{Val: def})
	}
	c.mark(end)
}

// action is the filter return value of a profile action.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func(def uint) uint32 {
		if errnoRet != nil {
			return uint32(*errnoRet) & 0xffff
		}
		return uint32(def)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return RetKillThread, nil
	case specs.ActKillProcess:
		return RetKillProcess, nil
	case specs.ActTrap:
		return RetTrap, nil
	case specs.ActErrno:
		return RetErrno | data(uint(unix.EPERM)), nil
	case specs.ActTrace:
		return RetTrace | data(uint(unix.EPERM)), nil
	case specs.ActAllow:
		return RetAllow, nil
	case specs.ActLog:
		return RetLog, nil
	case "":
		return 0, errors.New("no action")
	}
	return 0, fmt.Errorf("action %q is not supported (want one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)", a)
}

func condSize(op specs.LinuxSeccompOperator) (int, error) {
	switch op {
	case specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual,
		specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual:
		return 0, nil
	}
	return 0, fmt.Errorf("argument operator %q is not supported", op)
}

// label names a place in the program.
type label string

type insn struct {
	ins       bpf.Instruction
	trueL     label // for JumpIf: target when true ("" = next)
	falseL    label
	always    label // for Jump
	haveTrue  bool
	haveFalse bool
}

// compiler assembles a program with symbolic jump targets.
type compiler struct {
	little bool
	prog   []insn
	labels map[label]int
	n      int
}

func (c *compiler) emit(i bpf.Instruction) { c.prog = append(c.prog, insn{ins: i}) }

func (c *compiler) newLabel() label {
	c.n++
	return label(fmt.Sprintf("L%d", c.n))
}

func (c *compiler) mark(l label) {
	if c.labels == nil {
		c.labels = map[label]int{}
	}
	c.labels[l] = len(c.prog)
}

// jumpIf emits a conditional jump to labels ("" falls through).
func (c *compiler) jumpIf(cond bpf.JumpTest, val uint32, t, f label) {
	c.prog = append(c.prog, insn{ins: bpf.JumpIf{Cond: cond, Val: val}, trueL: t, falseL: f, haveTrue: t != "", haveFalse: f != ""})
}

// patchLastTrue and patchLastFalse give the last jump literal skips.
func (c *compiler) patchLastTrue(skip uint8) {
	j := c.prog[len(c.prog)-1].ins.(bpf.JumpIf)
	j.SkipTrue = skip
	c.prog[len(c.prog)-1].ins = j
}

func (c *compiler) patchLastFalse(skip uint8) {
	j := c.prog[len(c.prog)-1].ins.(bpf.JumpIf)
	j.SkipFalse = skip
	c.prog[len(c.prog)-1].ins = j
}

// longJumpIf jumps to l, however far, when the condition holds.
func (c *compiler) longJumpIf(cond bpf.JumpTest, val uint32, l label) {
	c.emit(bpf.JumpIf{Cond: cond, Val: val, SkipFalse: 1})
	c.jumpAlways(l)
}

func (c *compiler) jumpAlways(l label) {
	c.prog = append(c.prog, insn{ins: bpf.Jump{}, always: l})
}

// argOff is the offset of the low or high 32 bits of argument i.
func (c *compiler) argOff(i uint, high bool) uint32 {
	off := uint32(offArgs + 8*i)
	if high == c.little {
		off += 4
	}
	return off
}

// cond emits a 64-bit comparison of an argument that falls through when it
// holds and jumps to fail when not.
func (c *compiler) cond(a specs.LinuxSeccompArg, fail label) {
	hi, lo := uint32(a.Value>>32), uint32(a.Value)
	pass := c.newLabel()
	ldHi := bpf.LoadAbsolute{Off: c.argOff(a.Index, true), Size: 4}
	ldLo := bpf.LoadAbsolute{Off: c.argOff(a.Index, false), Size: 4}
	switch a.Op {
	case specs.OpEqualTo:
		c.emit(ldHi)
		c.jumpIf(bpf.JumpEqual, hi, "", fail)
		c.emit(ldLo)
		c.jumpIf(bpf.JumpEqual, lo, "", fail)
	case specs.OpNotEqual:
		c.emit(ldHi)
		c.jumpIf(bpf.JumpEqual, hi, "", pass)
		c.emit(ldLo)
		c.jumpIf(bpf.JumpEqual, lo, fail, "")
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		loCond := bpf.JumpGreaterThan
		if a.Op == specs.OpGreaterEqual {
			loCond = bpf.JumpGreaterOrEqual
		}
		c.emit(ldHi)
		c.jumpIf(bpf.JumpGreaterThan, hi, pass, "")
		c.jumpIf(bpf.JumpEqual, hi, "", fail)
		c.emit(ldLo)
		c.jumpIf(loCond, lo, "", fail)
	case specs.OpLessThan, specs.OpLessEqual:
		// Not >= (resp. not >).
		loCond := bpf.JumpGreaterOrEqual
		if a.Op == specs.OpLessEqual {
			loCond = bpf.JumpGreaterThan
		}
		c.emit(ldHi)
		c.jumpIf(bpf.JumpGreaterThan, hi, fail, "")
		c.jumpIf(bpf.JumpEqual, hi, "", pass)
		c.emit(ldLo)
		c.jumpIf(loCond, lo, fail, "")
	case specs.OpMaskedEqual:
		// Value is the mask, ValueTwo the value, as in libseccomp.
		mhi, mlo := uint32(a.Value>>32), uint32(a.Value)
		vhi, vlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		c.emit(ldHi)
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mhi})
		c.jumpIf(bpf.JumpEqual, vhi, "", fail)
		c.emit(ldLo)
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mlo})
		c.jumpIf(bpf.JumpEqual, vlo, "", fail)
	}
	c.mark(pass)
}

// assemble resolves the labels and encodes the program.
func (c *compiler) assemble() ([]unix.SockFilter, error) {
	out := make([]bpf.Instruction, len(c.prog))
	rel := func(from int, l label) (int, error) {
		to, ok := c.labels[l]
		if !ok {
			return 0, fmt.Errorf("seccomp: internal error: label %s not placed", l)
		}
		d := to - from - 1
		if d < 0 {
			return 0, fmt.Errorf("seccomp: internal error: backward jump to %s", l)
		}
		return d, nil
	}
	for i, in := range c.prog {
		switch {
		case in.always != "":
			d, err := rel(i, in.always)
			if err != nil {
				return nil, err
			}
			out[i] = bpf.Jump{Skip: uint32(d)}
		case in.haveTrue || in.haveFalse:
			j := in.ins.(bpf.JumpIf)
			for _, x := range []struct {
				have bool
				l    label
				dst  *uint8
			}{{in.haveTrue, in.trueL, &j.SkipTrue}, {in.haveFalse, in.falseL, &j.SkipFalse}} {
				if !x.have {
					continue
				}
				d, err := rel(i, x.l)
				if err != nil {
					return nil, err
				}
				if d > 255 {
					return nil, fmt.Errorf("seccomp: a rule is too long to compile (a jump of %d instructions)", d)
				}
				*x.dst = uint8(d)
			}
			out[i] = j
		default:
			out[i] = in.ins
		}
	}
	if len(out) > 4096 {
		return nil, fmt.Errorf("seccomp: the profile compiles to %d instructions, above the kernel's limit of 4096", len(out))
	}
	raw, err := bpf.Assemble(out)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assembling the filter: %w", err)
	}
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return f, nil
}
