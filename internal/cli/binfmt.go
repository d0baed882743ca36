package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
)

func newBinfmtCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "binfmt",
		Short: "Show, install and remove the host's QEMU emulators for foreign platforms",
		Long: `Show, install and remove the binfmt_misc handlers through which the kernel
runs executables of other architectures with QEMU user-mode emulators.

manyarch run, build and test do not need them: on Linux 6.7 and later they
register an emulator privately, inside the container's own user namespace
(--emulation private), changing nothing on the host. Host handlers serve
every process of the machine and need root to install.`,
		Example: `  manyarch binfmt status
  sudo manyarch binfmt install all
  sudo manyarch binfmt uninstall all`,
	}
	cmd.AddCommand(newBinfmtStatusCmd(g), newBinfmtInstallCmd(g), newBinfmtUninstallCmd(g))
	// Without a RunE, cobra prints the help for `binfmt bogus` and exits 0.
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("unknown binfmt command %q: the binfmt commands are %s (see `manyarch binfmt --help`)",
			args[0], strings.Join(names, ", "))}
	}
	return cmd
}

func newBinfmtStatusCmd(g *globalOptions) *cobra.Command {
	var format string
	var noProbe bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which platforms this machine runs, and how",
		Long: `Show, for every platform manyarch knows, how manyarch run, build and test
(--emulation auto) run its executables: natively, through a host
binfmt_misc handler (emulated), through an emulator registered privately in
each container (private, Linux 6.7+, nothing on the host), or not at all
(unavailable, with the reason); the QEMU emulator and its version; the
host handler's name, interpreter and flags (P preserve argv[0], O open
binary, C credentials, F fix binary) and whether its interpreter is static
(it runs inside containers only if it is); and the result of live probes:
a tiny program of that platform (in a chroot holding nothing else as root,
so a pass also proves the F flag; directly otherwise), and a Go program
with threads, thread-local storage and a signal, which catches emulators
that start programs but crash real ones (QEMU 7.2's qemu-i386 crashes every
Go program: install QEMU 8 or later).

--format json prints an array of objects with these fields (stable); a --format
template runs once per platform on them ({{.qemuVersion}} or {{.QemuVersion}};
before issue #22 item 8 two keys were snake_case, qemu_version and probe_detail):
  platform      "linux/arm64"
  state         "native", "emulated" (host handler), "private" or "unavailable"
  emulator      the QEMU that runs it (omitted for native)
  qemuVersion   its version, "10.0.2" (omitted when unknown)
  reason        why it is unavailable (omitted otherwise)
  handler       binfmt_misc entry name (omitted when none)
  interpreter   its interpreter path (omitted when none)
  flags         its flags, in the order P, O, C, F (omitted when none)
  static        true or false (omitted when unknown)
  others        further entries that match the platform (omitted when none)
  probe         "pass", "fail" or "skipped" (omitted when not run)
  probeDetail   what the probe printed, or why it was skipped
  note          what to do about it`,
		Example: `  manyarch binfmt status
  manyarch binfmt status --no-probe
  manyarch binfmt status --format json
  manyarch binfmt status --no-probe --format '{{.platform}} {{.state}} {{.QemuVersion}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sts, err := emulation.Status(cmd.Context(), emulation.WithProbes(!noProbe),
				emulation.WithLogger(g.logger(cmd.ErrOrStderr())))
			if err != nil {
				return err
			}
			views := make([]statusView, len(sts))
			for i, st := range sts {
				views[i] = statusView(st)
			}
			if done, err := writeFormatted(cmd.OutOrStdout(), format, views); done {
				return err
			}
			return writeStatusTable(cmd.OutOrStdout(), sts)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	cmd.Flags().BoolVar(&noProbe, "no-probe", false, "do not run the probes (faster; trusts what binfmt_misc says)")
	return cmd
}

// statusView is emulation.PlatformStatus with the camelCase keys every
// manyarch JSON uses (docs/json.md); a conversion, so a field added there
// fails to compile here until it is named.
type statusView struct {
	Arch        platform.Arch   `json:"-"`
	Platform    string          `json:"platform"`
	State       emulation.State `json:"state"`
	Emulator    string          `json:"emulator,omitempty"`
	QEMUVersion string          `json:"qemuVersion,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Handler     string          `json:"handler,omitempty"`
	Interpreter string          `json:"interpreter,omitempty"`
	Flags       string          `json:"flags,omitempty"`
	Static      *bool           `json:"static,omitempty"`
	Others      []string        `json:"others,omitempty"`
	Probe       string          `json:"probe,omitempty"`
	ProbeDetail string          `json:"probeDetail,omitempty"`
	Note        string          `json:"note,omitempty"`
}

func writeStatusTable(w io.Writer, sts []emulation.PlatformStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATE\tEMULATOR\tQEMU\tHANDLER\tFLAGS\tSTATIC\tPROBE")
	var notes, missing []string
	for _, s := range sts {
		static := "-"
		if s.Static != nil {
			static = map[bool]string{true: "yes", false: "no"}[*s.Static]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Platform, s.State, dash(s.Emulator), dash(s.QEMUVersion),
			dash(s.Handler), dash(s.Flags), static, dash(s.Probe))
		if s.Reason != "" {
			notes = append(notes, s.Platform+": unavailable: "+s.Reason)
		}
		if (s.Probe == emulation.ProbeFail && s.Reason == "") || (s.Probe == emulation.ProbeSkipped && s.State != emulation.StateUnavailable) {
			notes = append(notes, s.Platform+": probe "+s.Probe+": "+s.ProbeDetail)
		}
		if name, ok := strings.CutPrefix(s.Note, "run `manyarch binfmt install "); ok && s.State == emulation.StateUnavailable {
			missing = append(missing, strings.TrimSuffix(name, "`"))
		} else if s.Note != "" && !strings.Contains(s.Reason, s.Note) {
			notes = append(notes, s.Platform+": "+s.Note)
		}
		if len(s.Others) > 0 {
			notes = append(notes, s.Platform+": also matched by "+strings.Join(s.Others, ", "))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(missing) > 0 {
		hint := "To run them through host handlers: sudo manyarch binfmt install " + strings.Join(missing, " ")
		if emulation.PrivateSupported() == nil {
			hint += "\n(not needed for manyarch run, build and test: they emulate privately, see --emulation)"
		}
		notes = append(notes, hint)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseArchs turns ARCH arguments ("all", "arm64", "linux/arm/v7",
// "riscv64,s390x") into table rows.
func parseArchs(args []string) ([]platform.Arch, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("name the platforms (arm64, linux/arm/v7, ...) or all")
	}
	for _, a := range args {
		if a == "all" {
			if len(args) > 1 {
				return nil, fmt.Errorf("all names every platform: give it alone")
			}
			return platform.All(), nil
		}
	}
	ps, err := platform.ParseList(args...)
	if err != nil {
		return nil, err
	}
	out := make([]platform.Arch, 0, len(ps))
	for _, p := range ps {
		a, ok := platform.Lookup(p)
		if !ok {
			return nil, fmt.Errorf("unknown platform %s: known platforms are %s", platform.Format(p), platform.Known())
		}
		out = append(out, a)
	}
	return out, nil
}

func writeChanges(w io.Writer, format string, cs []emulation.Change) error {
	if done, err := writeFormatted(w, format, cs); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORMS\tHANDLER\tACTION\tDETAIL")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.Join(c.Platforms, ","), c.Handler, c.Action, dash(c.Detail))
	}
	return tw.Flush()
}

func newBinfmtInstallCmd(g *globalOptions) *cobra.Command {
	var format string
	var force, noProbe bool
	cmd := &cobra.Command{
		Use:   "install ARCH...|all",
		Short: "Register QEMU emulators for foreign platforms on the host (root)",
		Long: `Register binfmt_misc handlers on the host that run executables of the named
platforms with the static QEMU user-mode emulators installed on the host
(QEMU 8 or later; Debian 12: apt-get install -t bookworm-backports qemu-user).
Mounts binfmt_misc at
/proc/sys/fs/binfmt_misc first when it is not mounted.

Handlers are named manyarch-qemu-TARGET and registered with the platform's
magic and mask (QEMU's values) and the flags PF: F opens the emulator now,
so it also runs inside containers, P passes argv[0] through. C is left out
on purpose: with it a foreign setuid program would run the emulator with the
owner's privileges and the caller's QEMU_* environment variables.

The host's own platform, and platforms it runs natively (386 on amd64), are
never registered. Another tool's handler for the same executables (Debian's
qemu-aarch64, tonistiigi/binfmt's) is reported and left alone; --force
removes it and registers manyarch's. Each new handler is checked with a
probe in an empty chroot and removed again if it fails (--no-probe skips
that). ARCH is a platform (arm64, linux/arm/v7, riscv64); the arm variants
share one handler.`,
		Example: `  sudo manyarch binfmt install arm64 linux/arm/v7 riscv64
  sudo manyarch binfmt install all
  sudo manyarch binfmt install --force arm64`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			archs, err := parseArchs(args)
			if err != nil {
				return err
			}
			cs, err := emulation.Install(cmd.Context(), archs, emulation.WithForce(force),
				emulation.WithProbes(!noProbe), emulation.WithLogger(g.logger(cmd.ErrOrStderr())))
			if cs != nil {
				if werr := writeChanges(cmd.OutOrStdout(), format, cs); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace other tools' handlers for the same platforms")
	cmd.Flags().BoolVar(&noProbe, "no-probe", false, "do not check the new handlers with a probe")
	cmd.Flags().StringVar(&format, "format", "", `output format: "table" (default), "json" (fields platforms, handler, action, detail), or a Go template`)
	return cmd
}

func newBinfmtUninstallCmd(g *globalOptions) *cobra.Command {
	var format string
	var force bool
	cmd := &cobra.Command{
		Use:   "uninstall ARCH...|all",
		Short: "Remove manyarch's QEMU emulators from the host (root)",
		Long: `Remove the binfmt_misc handlers manyarch registered for the named platforms
(manyarch-qemu-TARGET). Other tools' handlers for them are reported and left
alone; --force removes every handler that serves the platforms, whatever its
name. When manyarch mounted binfmt_misc and no handler is left, it is
unmounted again, so install followed by uninstall leaves the host as it was.`,
		Example: `  sudo manyarch binfmt uninstall riscv64
  sudo manyarch binfmt uninstall all
  sudo manyarch binfmt uninstall --force arm64`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			archs, err := parseArchs(args)
			if err != nil {
				return err
			}
			cs, err := emulation.Uninstall(cmd.Context(), archs, emulation.WithForce(force),
				emulation.WithLogger(g.logger(cmd.ErrOrStderr())))
			if cs != nil {
				if werr := writeChanges(cmd.OutOrStdout(), format, cs); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also remove other tools' handlers for the platforms")
	cmd.Flags().StringVar(&format, "format", "", `output format: "table" (default), "json" (fields platforms, handler, action, detail), or a Go template`)
	return cmd
}
