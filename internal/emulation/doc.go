// Package emulation owns manyarch's use of binfmt_misc and QEMU user-mode
// emulation: it finds out which platforms of the architecture table the
// machine can run, registers and removes QEMU handlers on the host, mounts
// private binfmt_misc instances for sandboxes, and proves all of it by
// running tiny probe programs (package probes).
//
// # Host mode
//
// The host's handlers live in the binfmt_misc file system, normally mounted
// at /proc/sys/fs/binfmt_misc ([HostMount]; mounted on demand, as systemd
// does, when the caller is root). [ReadHandlers] parses its entries into
// [Handler] values; [Handler.Serves] says which table rows a handler
// catches, whatever its name (Debian's qemu-aarch64, tonistiigi/binfmt's,
// one of ours, a custom one), by matching its magic and mask against the
// header of the row's probe exactly as the kernel does.
//
// [Status] gives one [PlatformStatus] per row, whose State is the path run,
// build and test take with --emulation auto: native (the host runs it
// without help: its own architecture, or one it runs natively, such as 386
// on amd64 when the kernel has IA32 emulation, which a probe proves),
// emulated (an enabled host handler that passes the checks below), private
// (the emulator registered inside each container), or unavailable with a
// Reason; with the emulator and its QEMU version, the handler's name,
// interpreter, flags, whether the interpreter is static, and the probe
// results: the row's tiny probe in a chroot that holds nothing but the
// probe (a pass proves both the emulator and the F flag), and the thread
// probe.
//
// # Emulators
//
// [LookupInterpreter] picks, among qemu-TARGET-static and qemu-TARGET in
// PATH, /usr/bin and /usr/local/bin, the newest static QEMU ([Interpreter]
// with its [Version], read by [EmulatorVersion] and cached per file).
// [CheckEmulator] refuses, with errors naming the file and the package to
// install ([QEMUFix]), a dynamically linked emulator, a release known to
// break the platform (QEMU before 8.0 for linux/386: every Go program
// crashes), and one that fails the thread probe ([ThreadProbe]: a static
// Go program with threads, TLS and a signal, run under the emulator; passes
// are cached per emulator file and boot). Plan checks the emulator before it
// returns a host or private Decision.
//
// [Install] registers handlers named "manyarch-qemu-TARGET" with the row's
// magic and mask, the static QEMU found by [LookupInterpreter] and the flags
// "PF" (see [InstallFlags] for why). It never registers the host's own
// architecture or one the host runs natively, and leaves other tools'
// handlers for the same binaries alone unless Force is set. [Uninstall]
// removes our handlers, and with Force any handler serving the platform.
//
// # Private mode
//
// Since Linux 6.7 each user namespace may mount its own binfmt_misc
// instance. [MountPrivate], called by a sandbox's init inside its new user
// and mount namespaces, mounts one and registers handlers there with the F
// flag, so foreign binaries run in the sandbox without any change to the
// host and without root. [PrivateSupported] says whether the kernel and
// the system's settings allow it.
//
// # Planning
//
// [Plan] turns a platform and a [Mode] (auto, host, private, none) into a
// [Decision] for the run, build and test commands: run natively, rely on a
// host handler, or register handlers privately; or an error that says what
// to install or run to fix it. A Decision also carries the emulator
// (path and QEMU version; [Decision.String] and its slog LogValue say it),
// the environment (QEMU_CPU for arm/v5 and arm/v6) and the personality
// (linux32 for 386 run natively on amd64) the sandbox applies to the
// container's first process. Modes host and private emulate even a platform
// the host could run natively (linux/386 on amd64, arm on arm64), so the
// emulated path can be exercised on any host; only the host's own platform
// is always native. [Candidates] lists, unproven, the decisions Plan may
// make (kind, architecture, environment), reading nothing and starting
// nothing: a build looks its cache up under each, so a step answered from
// the cache never reads binfmt_misc, probes or starts QEMU.
//
// # Helper process
//
// Probing through a private instance needs a process that creates a user
// namespace, mounts the instance and then executes the probe. That process
// is a re-exec of the running binary: programs that use [ProbePrivate] must
// call [Init] first thing in main (tests: in TestMain).
package emulation
