// Package testutil holds helpers shared by the tests of several packages:
// checks that skip a test with a clear reason when root, QEMU, binfmt_misc,
// skopeo or a registry server are missing, and builders of small test images.
// CI installs everything these helpers look for, so in CI nothing skips.
package testutil
