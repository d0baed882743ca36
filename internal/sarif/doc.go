// Package sarif holds the types of a SARIF 2.1.0 log (OASIS), the subset
// code-scanning UIs (GitHub's among them) read: one run per tool
// invocation, rules, and results located at a file and a logical location.
// It owns the format only; each command fills it with its own findings
// (internal/scan's vulnerabilities). Write encodes a log.
package sarif
