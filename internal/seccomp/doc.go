// Package seccomp compiles Docker-format seccomp profiles (Docker's default
// profile from github.com/moby/profiles/seccomp, or a JSON profile) into a
// classic BPF program for the host architecture and its compat ABIs
// (x86_64: i386 and x32; aarch64: arm), in pure Go; the sandbox init
// (package sandboxinit) installs it.
//
// The profile's rules are resolved the way Docker resolves them (the
// capability-conditional rules for the capabilities the container has, the
// kernel-version rules for the running kernel); syscall numbers come from
// the tables of github.com/elastic/go-seccomp-bpf/arch. Rules follow runc's
// semantics: the conditions of one rule are ANDed, except that several
// conditions on the same argument become separate rules (ORed); a name an
// architecture does not have is skipped. As runc does, a syscall numbered
// above the highest one the tables know fails with ENOSYS instead of the
// default action, so that C libraries fall back from syscalls newer than
// the profile; a syscall of an ABI the profile does not list kills the
// process.
//
// Cache.Filter resolves and compiles a profile once per build of manyarch,
// kernel, architecture and capability set and keeps the program on disk
// (DefaultCache: the user's cache directory, not the store, since a filter
// is a per-user security artifact that must be writable by the user alone,
// whatever store a process uses); an entry is checked whole, down to each
// instruction, before it is returned.
package seccomp
