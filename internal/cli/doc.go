// Package cli is manyarch's command tree. NewRootCmd builds it afresh on every
// call (there are no package-level command globals), so tests run commands
// in-process. Each command lives in a file of its own; flags shared by several
// commands are grouped in types with AddFlags and Validate methods.
//
// The CLI is the only layer that prints: library packages return values,
// errors and progress events, and the commands here render them.
package cli
