package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// limitFlags are the container flags run and build share, as docker run
// and buildx build have them: --add-host, --ulimit and --shm-size.
type limitFlags struct {
	addHosts []string
	ulimits  []string
	shmSize  string
}

func (l *limitFlags) AddFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&l.addHosts, "add-host", nil, "add a line to /etc/hosts: NAME:IP (repeatable)")
	f.StringArrayVar(&l.ulimits, "ulimit", nil, "a resource limit: NAME=SOFT[:HARD], e.g. nofile=1024:4096 (repeatable)")
	f.StringVar(&l.shmSize, "shm-size", "", "size of /dev/shm, e.g. 256m (default 64m)")
}

// parsed returns the flags' values, each error naming its flag.
func (l *limitFlags) parsed() (hosts []string, ulimits []sandbox.Ulimit, shm int64, err error) {
	for _, h := range l.addHosts {
		line, err := sandbox.ParseHost(h)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("--add-host: %w", err)
		}
		hosts = append(hosts, line)
	}
	for _, u := range l.ulimits {
		v, err := sandbox.ParseUlimit(u)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("--ulimit: %w", err)
		}
		ulimits = append(ulimits, v)
	}
	if l.shmSize != "" {
		if shm, err = parseSize(l.shmSize); err != nil {
			return nil, nil, 0, fmt.Errorf("--shm-size: %w", err)
		}
		if shm < 4096 {
			return nil, nil, 0, fmt.Errorf("--shm-size %s: below one page (4k)", l.shmSize)
		}
	}
	return hosts, ulimits, shm, nil
}

// apply sets the flags' values on a container's spec.
func (l *limitFlags) apply(spec *sandbox.Spec) error {
	hosts, ulimits, shm, err := l.parsed()
	if err != nil {
		return err
	}
	spec.ExtraHosts, spec.Ulimits, spec.ShmSize = hosts, ulimits, shm
	return nil
}
