package sandboxinit

import (
	"errors"
	"fmt"
	"syscall"
)

// setUlimits applies us to this process (the init), whose command
// inherits them.
func setUlimits(us []Ulimit) error {
	for _, u := range us {
		if err := syscall.Setrlimit(int(u.Resource), &syscall.Rlimit{Cur: u.Soft, Max: u.Hard}); err != nil {
			if errors.Is(err, syscall.EPERM) {
				return fmt.Errorf("ulimit %s: %w (a hard limit above manyarch's own needs root on the host)", u, err)
			}
			return fmt.Errorf("ulimit %s: %w", u, err)
		}
	}
	return nil
}
