// Package platform owns manyarch's architecture table and the parsing,
// normalizing, formatting and matching of platforms.
//
// # Platforms
//
// A platform is an OCI [specs.Platform]: an OS, an architecture and, for some
// architectures, a variant. manyarch builds and runs Linux images only, so the
// OS is always "linux". Platforms are written the way docker, buildx and
// containerd write them:
//
//	linux/amd64
//	linux/arm64
//	linux/arm/v7
//
// [Parse] accepts that form and the spellings users reach for: the
// architecture alone ("arm64"), kernel names ("aarch64", "x86_64", "i686"),
// Debian names ("armhf", "armel", "ppc64el", "mips64el"), upper case, and
// redundant variants ("linux/arm64/v8", "linux/arm/7"). Normalization is
// containerd/platforms', with one exception: "armel" means linux/arm/v5, as it
// does in Debian and in the official Debian images, not linux/arm/v6.
// Defaults follow the OCI convention: "linux/arm" is linux/arm/v7 and
// "linux/arm64/v8" is linux/arm64 (an empty variant).
//
// Parse fails for a platform outside the table, and the error lists the known
// ones, so a command can print it as it is:
//
//	unknown platform "linux/arm64/v9": known platforms are linux/amd64, linux/386, ...
//
// Never compare platforms as strings; use [Match] (same platform after
// normalization) or [MatchCompat] (a host of one platform runs binaries of the
// other natively: amd64 runs 386, arm/v7 runs arm/v6 and arm/v5).
// [Format] gives the canonical string, and Parse(Format(p)) == p for every
// platform Parse returns.
//
// # The architecture table
//
// [All] returns the table: one [Arch] per supported platform, in a fixed
// order. It is the single place that knows, for each platform:
//
//   - the Go toolchain settings that target it (GOARCH, GOARM);
//   - the ELF header of its binaries (class, byte order, machine) and, for
//     32-bit ARM, which ARM architecture versions and float ABI its binaries
//     may use;
//   - what `uname -m` prints there;
//   - the QEMU user-mode emulator that runs it, the -cpu model that gives the
//     right ISA and uname, and the binfmt_misc magic and mask that route its
//     binaries to that emulator (upstream QEMU's qemu-binfmt-conf.sh values).
//
// The emulation layer, the sandbox, the builder and the static verifier all
// read it. [Lookup] finds the row of a platform; [LookupELF] finds the rows an
// ELF header may belong to (32-bit little-endian ARM gives the three arm
// rows; [ReadARMAttributes], [ARMFloatABIFromFlags] and [Arch.ARMAccepts]
// narrow them down, for executables that record their ARM architecture and
// float ABI: GCC's do, Go's do not, so a Go executable fits every arm row).
// [Arch.BinfmtMatches] and [Arch.SameBinfmt] answer binfmt_misc questions
// with the row's magic and mask, as the kernel compares them.
// Lookup and LookupELF are cheap enough to call once per file.
//
// [Host] reports the platform of the machine manyarch runs on.
package platform
