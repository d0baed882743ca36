package plan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/util/system"

	"github.com/manyarch/manyarch/internal/dockerfile"
)

// This file holds one dispatch function per instruction, as BuildKit's
// dockerfile2llb has. Each applies its expanded instruction to the stage
// (its config, environment, arguments) and fills in the step: its kind and
// typed part, its history line, whether it makes a layer, and what besides
// the common fields goes into its key.

// stepState is one instruction being dispatched: what every dispatch
// function reads and what it fills in for dispatcher.step.
type stepState struct {
	c    cmdRef
	lint *linter.Linter // with the instruction's # check= comments merged in
	cfg  *v1.Config     // the stage's config, changed in place
	s    *Step

	history  string // the history line; "" writes no history entry
	layer    bool   // the step makes a layer (history is not EmptyLayer)
	keyExtra any    // the typed part of the step, hashed into its key
}

// dispatchCommand calls the dispatch function of the instruction's type.
func (d *dispatcher) dispatchCommand(ctx context.Context, cmd instructions.Command, st *stepState) error {
	switch x := cmd.(type) {
	case *instructions.EnvCommand:
		return d.dispatchEnv(x, st)
	case *instructions.ArgCommand:
		return d.dispatchArg(x, st)
	case *instructions.RunCommand:
		return d.dispatchRun(ctx, x, st)
	case *instructions.CopyCommand:
		return d.dispatchCopy(ctx, x, st)
	case *instructions.AddCommand:
		return d.dispatchAdd(ctx, x, st)
	case *instructions.WorkdirCommand:
		return d.dispatchWorkdir(x, st)
	case *instructions.LabelCommand:
		return d.dispatchLabel(x, st)
	case *instructions.UserCommand:
		return d.dispatchUser(x, st)
	case *instructions.ExposeCommand:
		return d.dispatchExpose(x, st)
	case *instructions.VolumeCommand:
		return d.dispatchVolume(x, st)
	case *instructions.StopSignalCommand:
		return d.dispatchStopSignal(x, st)
	case *instructions.HealthCheckCommand:
		return d.dispatchHealthcheck(x, st)
	case *instructions.ShellCommand:
		return d.dispatchShell(x, st)
	case *instructions.CmdCommand:
		return d.dispatchCmd(x, st)
	case *instructions.EntrypointCommand:
		return d.dispatchEntrypoint(x, st)
	case *instructions.MaintainerCommand:
		return d.dispatchMaintainer(x, st)
	case *instructions.OnbuildCommand:
		return d.dispatchOnbuild(x, st)
	}
	return d.errorf(st.c.in, dockerfile.ErrUnknownInstruction, "%s is not supported by the planner", st.c.in.Name())
}

func (d *dispatcher) dispatchEnv(x *instructions.EnvCommand, st *stepState) error {
	var b strings.Builder
	b.WriteString("ENV")
	for _, kv := range x.Env {
		if kv.NoDelim {
			st.lint.Run(&linter.RuleLegacyKeyValueFormat, x.Location(), linter.RuleLegacyKeyValueFormat.Format(x.Name()))
		}
		lintSecret(st.lint, "ENV", kv.Key, x.Location())
		b.WriteString(" " + kv.Key + "=" + kv.Value)
		d.n.env.Set(kv.Key, kv.Value)
		st.cfg.Env = addEnv(st.cfg.Env, kv.Key, kv.Value)
	}
	st.history = b.String()
	return nil
}

func (d *dispatcher) dispatchArg(x *instructions.ArgCommand, st *stepState) error {
	h, err := d.arg(x, st.lint)
	if err != nil {
		return d.errorf(st.c.in, dockerfile.ErrExpansion, "ARG: %w", err)
	}
	st.history = h
	return nil
}

func (d *dispatcher) dispatchRun(ctx context.Context, x *instructions.RunCommand, st *stepState) error {
	r, err := d.run(ctx, x, st.c)
	if err != nil {
		return d.wrap(st.c.in, err)
	}
	st.s.Kind, st.s.Run = StepRun, r
	// Like llb.ExecState: a RUN with an ssh mount gets SSH_AUTH_SOCK
	// pointing at the first socket unless it is set already.
	for _, m := range r.Mounts {
		if m.Type == string(instructions.MountTypeSSH) {
			if _, ok := d.n.env.Get("SSH_AUTH_SOCK"); !ok {
				st.s.Env = append(st.s.Env, "SSH_AUTH_SOCK="+m.Target)
			}
			break
		}
	}
	st.history = "RUN " + runCommandString(r.Args, d.n.args, d.n.env) + " # buildkit"
	st.layer, st.keyExtra = true, r
	return nil
}

func (d *dispatcher) dispatchCopy(ctx context.Context, x *instructions.CopyCommand, st *stepState) error {
	cp, h, err := d.copyStep(ctx, st.c, x.SourcesAndDest, x.ExcludePatterns, false, x.From, x.Chown, x.Chmod, x.Link, x.Parents, "", nil, nil)
	if err != nil {
		return d.wrap(st.c.in, err)
	}
	st.s.Kind, st.s.Copy = StepCopy, cp
	st.history, st.layer, st.keyExtra = h, true, cp
	return nil
}

func (d *dispatcher) dispatchAdd(ctx context.Context, x *instructions.AddCommand, st *stepState) error {
	cp, h, err := d.copyStep(ctx, st.c, x.SourcesAndDest, x.ExcludePatterns, true, "", x.Chown, x.Chmod, x.Link, false, x.Checksum, x.KeepGitDir, x.Unpack)
	if err != nil {
		return d.wrap(st.c.in, err)
	}
	st.s.Kind, st.s.Copy = StepCopy, cp
	st.history, st.layer, st.keyExtra = h, true, cp
	return nil
}

func (d *dispatcher) dispatchWorkdir(x *instructions.WorkdirCommand, st *stepState) error {
	if !d.n.workdirSet && !system.IsAbs(x.Path, d.os) {
		st.lint.Run(&linter.RuleWorkdirRelativePath, x.Location(), linter.RuleWorkdirRelativePath.Format(x.Path))
	}
	if x.Path == "" {
		// BuildKit keeps the working directory; it is most often an
		// unset ARG or ENV.
		return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "%s: the path is empty: give a directory (is an ARG or ENV it uses unset? pass --build-arg)", x.String())
	}
	d.n.workdirSet = true
	wd, err := system.NormalizeWorkdir(st.cfg.WorkingDir, x.Path, d.os)
	if err != nil {
		return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "WORKDIR %s: %w", x.Path, err)
	}
	st.cfg.WorkingDir = wd
	st.s.Kind = StepWorkdir
	st.s.Workdir = &WorkdirStep{Path: wd, Mkdir: wd != "/"}
	st.history, st.layer, st.keyExtra = "WORKDIR "+wd, wd != "/", st.s.Workdir
	return nil
}

func (d *dispatcher) dispatchLabel(x *instructions.LabelCommand, st *stepState) error {
	var b strings.Builder
	b.WriteString("LABEL")
	if st.cfg.Labels == nil {
		st.cfg.Labels = map[string]string{}
	}
	for _, kv := range x.Labels {
		if kv.NoDelim {
			st.lint.Run(&linter.RuleLegacyKeyValueFormat, x.Location(), linter.RuleLegacyKeyValueFormat.Format(x.Name()))
		}
		st.cfg.Labels[kv.Key] = kv.Value
		b.WriteString(" " + kv.Key + "=" + kv.Value)
	}
	st.history = b.String()
	return nil
}

func (d *dispatcher) dispatchUser(x *instructions.UserCommand, st *stepState) error {
	if x.User == "" {
		// BuildKit takes an empty USER (root); it is most often an
		// unset ARG or ENV.
		return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "%s: the user is empty: give a name or uid[:gid] (is an ARG or ENV it uses unset? pass --build-arg)", x.String())
	}
	st.cfg.User = x.User
	st.history = "USER " + x.User
	return nil
}

func (d *dispatcher) dispatchExpose(x *instructions.ExposeCommand, st *stepState) error {
	ports, err := d.expose(x, st.lint)
	if err != nil {
		return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "EXPOSE: %w", err)
	}
	if st.cfg.ExposedPorts == nil {
		st.cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		st.cfg.ExposedPorts[p] = struct{}{}
	}
	st.history = fmt.Sprintf("EXPOSE %v", ports)
	return nil
}

func (d *dispatcher) dispatchVolume(x *instructions.VolumeCommand, st *stepState) error {
	if st.cfg.Volumes == nil {
		st.cfg.Volumes = map[string]struct{}{}
	}
	for _, v := range x.Volumes {
		if v == "" {
			return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "VOLUME specified can not be an empty string")
		}
		st.cfg.Volumes[v] = struct{}{}
	}
	st.history = fmt.Sprintf("VOLUME %v", x.Volumes)
	return nil
}

func (d *dispatcher) dispatchStopSignal(x *instructions.StopSignalCommand, st *stepState) error {
	if err := checkSignal(x.Signal); err != nil {
		return d.errorf(st.c.in, dockerfile.ErrInvalidValue, "STOPSIGNAL %s: %w", x.Signal, err)
	}
	st.cfg.StopSignal = x.Signal
	st.history = "STOPSIGNAL " + x.Signal
	return nil
}

func (d *dispatcher) dispatchHealthcheck(x *instructions.HealthCheckCommand, st *stepState) error {
	d.usedOnce(x, &d.healthcheckLoc, st.lint)
	h := x.Health
	st.cfg.Healthcheck = &v1.HealthConfig{
		Test:        slices.Clone(h.Test),
		Interval:    h.Interval,
		Timeout:     h.Timeout,
		StartPeriod: h.StartPeriod,
		Retries:     h.Retries,
	}
	d.out.HealthcheckStartInterval = h.StartInterval
	st.history = fmt.Sprintf("HEALTHCHECK %+v", *h)
	return nil
}

func (d *dispatcher) dispatchShell(x *instructions.ShellCommand, st *stepState) error {
	st.cfg.Shell = slices.Clone(x.Shell)
	st.history = fmt.Sprintf("SHELL %v", x.Shell)
	return nil
}

func (d *dispatcher) dispatchCmd(x *instructions.CmdCommand, st *stepState) error {
	d.usedOnce(x, &d.cmdLoc, st.lint)
	args := d.commandLine(x.Name(), x.ShellDependantCmdLine, x.Location(), st)
	st.cfg.Cmd = args
	st.cfg.ArgsEscaped = true
	d.cmdSet = true
	st.history = fmt.Sprintf("CMD %q", args)
	return nil
}

func (d *dispatcher) dispatchEntrypoint(x *instructions.EntrypointCommand, st *stepState) error {
	d.usedOnce(x, &d.entrypointLoc, st.lint)
	args := d.commandLine(x.Name(), x.ShellDependantCmdLine, x.Location(), st)
	st.cfg.Entrypoint = args
	if !d.cmdSet {
		st.cfg.Cmd = nil
	}
	st.history = fmt.Sprintf("ENTRYPOINT %q", args)
	return nil
}

// commandLine is the command of CMD or ENTRYPOINT: the exec form as it is,
// the shell form run by the effective shell (JSONArgsRecommended when the
// image names no SHELL).
func (d *dispatcher) commandLine(name string, c instructions.ShellDependantCmdLine, loc []parser.Range, st *stepState) []string {
	args := c.CmdLine
	if c.PrependShell {
		if len(st.cfg.Shell) == 0 {
			st.lint.Run(&linter.RuleJSONArgsRecommended, loc, linter.RuleJSONArgsRecommended.Format(name))
		}
		args = append(d.shell(), strings.Join(args, " "))
	}
	return args
}

func (d *dispatcher) dispatchMaintainer(x *instructions.MaintainerCommand, st *stepState) error {
	d.n.config.Author = x.Maintainer
	st.history = "MAINTAINER " + x.Maintainer
	return nil
}

func (d *dispatcher) dispatchOnbuild(x *instructions.OnbuildCommand, st *stepState) error {
	st.cfg.OnBuild = append(st.cfg.OnBuild, x.Expression)
	// BuildKit writes no history entry for ONBUILD.
	return nil
}
