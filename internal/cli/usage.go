package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses, one table for every command (README, "Exit status"):
//
//	0    success
//	1    the command ran and found a problem: verify findings, test
//	     failures, images that differ (diff), a store with problems (check),
//	     or a runtime error (a registry, a file, a build step)
//	2    usage: an unknown command or flag, a wrong number of arguments, a
//	     bad flag value; and diff's errors, as diff(1)
//	125  run: manyarch could not start the container (docker's code), and
//	     run's usage errors, as docker's
//	126, 127, N  run: the container's command could not be run, was not
//	     found, or exited N (as docker)
const (
	exitUsage    = 2
	exitRunUsage = 125
)

// usageError is a command line manyarch cannot read: printed with the
// command's usage line and where to read more, exit status 2 (125 for run).
type usageError struct {
	err     error
	useLine string // "manyarch build [flags] CONTEXT"
	path    string // "manyarch build"
	code    int
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func newUsageError(c *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	code := exitUsage
	if c.Name() == "run" && c.HasParent() && !c.Parent().HasParent() {
		code = exitRunUsage
	}
	return &usageError{err: err, useLine: c.UseLine(), path: c.CommandPath(), code: code}
}

// markUsageErrors makes every argument-count and flag error of the tree
// under root a *usageError.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return newUsageError(c, flagValueError(err)) })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cc *cobra.Command, a []string) error {
				err := args(cc, a)
				if err != nil && !cc.HasSubCommands() && len(a) > 0 && strings.HasPrefix(err.Error(), "unknown command ") {
					// cobra.NoArgs's words, for a command that has no subcommands either.
					err = fmt.Errorf("%s takes no arguments, got %q", cc.CommandPath(), a[0])
				}
				return newUsageError(cc, err)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// writeUsageError prints a usage error and returns its exit status, or
// returns -1 when err is not one. cobra's own errors for an unknown command
// and a missing required flag do not pass through the hooks above; they are
// known by their fixed wording.
func writeUsageError(w io.Writer, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "manyarch: %s\nUsage: %s\nSee '%s --help'.\n", userText(ue.err.Error()), ue.useLine, ue.path)
		return ue.code
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ") {
		fmt.Fprintf(w, "manyarch: %s\n", strings.TrimRight(msg, "\n"))
		if !strings.Contains(msg, "--help") {
			fmt.Fprintln(w, "See 'manyarch --help'.")
		}
		return exitUsage
	}
	return -1
}
