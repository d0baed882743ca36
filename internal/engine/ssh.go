package engine

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/sshagent"
)

// checkSSH fails a plan with a RUN --mount=type=ssh,required=true whose id
// the request has no --ssh for, naming the first such step's Dockerfile
// line, before anything runs. A mount that is not required runs without
// its socket, as in BuildKit (SSH_AUTH_SOCK still names the target).
func checkSSH(p *plan.Plan, agents *sshagent.Agents) error {
	for _, s := range p.Stages {
		for _, step := range s.Steps {
			if step.Kind != plan.StepRun || step.Run == nil {
				continue
			}
			for _, m := range step.Run.Mounts {
				if m.Type != "ssh" || !m.Required || agents.Has(m.CacheID) {
					continue
				}
				given := "no --ssh was given"
				if ids := agents.IDs(); len(ids) > 0 {
					given = "--ssh gave " + strings.Join(ids, ", ")
				}
				how := m.CacheID + "=$HOME/.ssh/KEYFILE or --ssh " + m.CacheID + "=$SSH_AUTH_SOCK"
				if m.CacheID == sshagent.DefaultID {
					how = "default (your agent, $SSH_AUTH_SOCK) or --ssh default=$HOME/.ssh/KEYFILE"
				}
				return &dockerfile.Error{Location: step.Location, Err: fmt.Errorf(
					"RUN --mount=type=ssh,id=%s,required=true needs an SSH agent or key for id %s, and %s: pass --ssh %s",
					m.CacheID, m.CacheID, given, how)}
			}
		}
	}
	return nil
}

// sshMount serves the --ssh agent of m for one RUN step in a private
// directory under dir: the sandbox mount of its socket (nil when the
// request has no agent for m's id: checkSSH let only optional ones by) and
// the function that stops it and removes the directory.
func (x *executor) sshMount(ctx context.Context, m plan.Mount, dir string) (*sandbox.Mount, func(), error) {
	if !x.ssh.Has(m.CacheID) {
		return nil, func() {}, nil
	}
	o := sshagent.SocketOptions{Dir: dir}
	if m.UID != nil {
		o.UID = int(*m.UID)
	}
	if m.GID != nil {
		o.GID = int(*m.GID)
	}
	if m.Mode != nil {
		o.Mode = fs.FileMode(*m.Mode) & fs.ModePerm
	}
	s, err := x.ssh.Serve(ctx, m.CacheID, o)
	if err != nil {
		return nil, func() {}, fmt.Errorf("--mount=type=ssh,id=%s: %w", m.CacheID, err)
	}
	stop := func() {
		if err := s.Close(); err != nil {
			x.n.log.Warn("stopping the ssh agent of a RUN step", "id", m.CacheID, "error", err)
		}
	}
	return &sandbox.Mount{Source: s.Socket, Target: m.Target, ReadOnly: true}, stop, nil
}
