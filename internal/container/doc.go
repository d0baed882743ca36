// Package container is the one way manyarch runs something from an image:
// build's RUN steps, `manyarch run`, and the commands and services of
// `manyarch test` all go through it.
//
// It owns three things: preparing an image's root file system for a
// platform (the layers unpacked once by the snapshotter, and the emulation
// that emulation.Plan chooses for the platform under a mode), running a
// sandbox.Spec in a container made on that root (an overlay of the layers
// with a fresh upper directory), and the fallback when the kernel refuses
// that overlay: on a *sandbox.OverlayError (matched with errors.As, never
// by its text) the layers are copied into a directory once and the command
// runs there; a Rootfs that met the error copies at once for its later
// containers.
//
//	root, err := container.Prepare(ctx, snap, layers, platform, emulation.ModeAuto)
//	spec := sandbox.Spec{Args: argv, Env: root.Env(cfg.Env, userEnv)}
//	res, err := root.Run(ctx, spec)            // a throwaway container
//
//	c, err := root.NewContainer()              // several runs sharing one writable layer
//	defer c.Close()
//	res, err = c.Run(ctx, spec)
//	err = c.Diff(ctx, w, snapshot.TarOptions{}) // what they changed, as a layer
//
//	p, err := root.Start(ctx, spec)            // a service: returns once it started
//	p.Pid(); p.Address(); p.Kill(syscall.SIGTERM); res, err = p.Wait()
//
// The container sets the Spec's root (Overlay or RootDir) and its
// emulation (Binfmt for a private binfmt_misc instance, Linux32); callers
// set everything else, and Network, Publish, Cgroup, Security and the
// limits pass through unchanged, so every container gets the sandbox's
// isolation (package sandbox).
//
// It must not parse Dockerfiles, test files or command lines, resolve
// image references or read registries: its callers do, and give it
// layers, a platform and a Spec.
package container
