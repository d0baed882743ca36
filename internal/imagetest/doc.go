// Package imagetest runs container-structure-test (CST) test files against
// every platform of a multi-architecture image, with no daemon.
//
// # Test files
//
// [Load] and [Parse] read CST's schema 2.0.0 (and 1.0.0, whose command is a list), in YAML or JSON, as CST's
// parser reads it (docs/cst-compatibility.md lists every difference): YAML
// as yaml.v2's UnmarshalStrict (YAML 1.1 booleans yes/no/on/off, merge
// keys, any scalar read as a string, null as empty; an unknown field, a
// typo, is a [ConfigError] naming the file and line), JSON as
// encoding/json (keys matched ignoring case; an unknown field is a warning
// with a suggestion). A value of the wrong type is a [ConfigError]. What
// CST only finds when it runs a test (an invalid regular expression or
// isExecutableBy, a missing name, command or path) makes that test fail
// alone with the reason (the test's Invalid); [Strict] refuses the file
// for it, and for unknown JSON fields. Every CST field is read: globalEnvVars,
// commandTests (name, setup, teardown, envVars, command, args, exitCode,
// expectedOutput, excludedOutput, expectedError, excludedError),
// fileExistenceTests (path, shouldExist, permissions, uid, gid,
// isExecutableBy), fileContentTests (path, expectedContents,
// excludedContents), metadataTest (env or envVars, unboundEnv or
// unboundEnvVars, exposedPorts, unexposedPorts, entrypoint, cmd, workdir,
// volumes, unmountedVolumes, labels, user), licenseTests (debian, files)
// and containerRunOptions (user, envVars, envFile, bindMounts, network;
// privileged, capabilities and allocateTty are read and reported as
// unsupported, in Config.Warnings). In metadataTest, a field that is not
// given is not checked and a field given empty is: entrypoint: [] requires
// an image with no entrypoint, workdir: "" one with no working directory.
//
// # Multi-platform extensions
//
// A file that uses none of these is still a CST file:
//
//   - platforms: on any test (a list, or a comma-separated string, of
//     platforms as --platform takes them) runs it only there; elsewhere it
//     is skipped.
//   - template variables in commands, arguments, setup and teardown,
//     environment values, paths and expectations: {{.Platform}}
//     (linux/arm/v7), {{.OS}}, {{.Arch}} (arm), {{.Variant}} (v7),
//     {{.UnameMachine}} (armv7l, from the architecture table) and
//     {{.GOARCH}}, so expectedOutput: ["Hello, {{.GOARCH}}!"] holds on
//     every platform. Only these are replaced: any other {{...}} (a Go
//     template handed to a tool, {{.Config.Env}}) is left as written, and
//     {{"{{"}} is a literal {{ (to write {{"{{"}}.Arch}}).
//   - metadataTest os, architecture and variant check the image config's
//     platform (architecture: "{{.Arch}}" checks that each image's config
//     agrees with its place in the index).
//   - timeout: on command and consistency tests ("30s"; default the run's,
//     see [WithTimeout]).
//   - consistency: commands run on every platform whose output must be the
//     same everywhere, once each platform's values of the variables above
//     are replaced by their names ("Hello, arm64!" reads "Hello,
//     {{.GOARCH}}!"); raw: true compares the output as it is, stderr: true
//     compares standard error too, exitCode: N requires that status. The
//     platforms whose output differs from the most common one fail.
//
// # Running
//
// [Run] runs the tests of one or more files on every platform of an image
// or index (or those of [WithPlatforms]), in parallel ([WithJobs]). File,
// license and metadata tests read the image without running anything.
// File and license tests read the root file system the containers of
// command tests (and `manyarch run`) get: with the [SandboxExecutor] and
// root on Linux, the same unpacked layer directories, stacked by overlayfs
// (or copied where it cannot stack, as the sandbox does) in a private mount
// namespace and read through openat2 RESOLVE_IN_ROOT, so a path means what
// it means inside the container and no symbolic link of the image (an
// absolute one, or one with "..") reaches a host file. Elsewhere (no
// executor, not root, no openat2, not Linux) they read the layer tars
// flattened by this package (whiteouts, opaque directories, implicit
// parent directories hiding lower links, hard links with their target's
// attributes), which a differential test holds to the container's view.
// As in CST, fileExistenceTests look at a final symbolic link itself
// (lstat) and fileContentTests follow it. Command
// tests each get a fresh container from an [Executor]: setup commands run
// in it first, then the command, then teardown, and the container is
// thrown away. [NewSandboxExecutor] is the real executor (Linux
// namespaces, an overlay of the unpacked layers with a throwaway upper
// directory, emulation decided by the emulation package); tests use fakes.
// As in CST, the image's entrypoint is not used, and $VAR references are
// expanded in commands, arguments and paths against the image's
// environment, then globalEnvVars, then the test's envVars (a reference to
// a variable none of them sets is left for the container's shell). A
// bindMounts host directory that does not exist is created, as docker run
// -v creates it (logged at Info). File tests see /etc/hosts, /etc/hostname
// and /etc/resolv.conf as docker's init layer gives a container (empty,
// 0755, root), as CST does; command tests get the generated files.
//
// # Reports
//
// A [Report] holds a result per test and platform, per-platform summaries
// with the emulation used and its overhead against the native platform,
// and renders as a text matrix ([Report.WriteText]), CST's JSON with a
// platform field ([Report.WriteJSON]), JUnit XML with one testsuite per
// platform ([Report.WriteJUnit]) and a self-contained HTML page
// ([Report.WriteHTML]).
package imagetest
