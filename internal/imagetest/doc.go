// Package imagetest runs container-structure-test (CST) test files against
// every platform of a multi-architecture image, with no daemon.
//
// # Test files
//
// [Load] and [Parse] read CST's schema 2.0.0, in YAML or JSON, strictly: an
// unknown field (a typo), a value of the wrong type, an invalid regular
// expression or template is a [ConfigError] naming the file and line, as
// CST's strict parsing does. Every CST field is read: globalEnvVars,
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
//   - Go template variables in commands, arguments, setup and teardown,
//     environment values, paths and expectations: {{.Platform}}
//     (linux/arm/v7), {{.OS}}, {{.Arch}} (arm), {{.Variant}} (v7),
//     {{.UnameMachine}} (armv7l, from the architecture table) and
//     {{.GOARCH}}, so expectedOutput: ["Hello, {{.GOARCH}}!"] holds on
//     every platform.
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
// As in CST, the image's entrypoint is not used, and $VAR references to
// the image's environment are expanded in commands and paths.
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
