// Package sshagent gives build steps the SSH agent a user names with
// buildx's --ssh flag, without the private keys ever leaving this process.
//
// A Spec is one --ssh value as buildx reads it:
//
//	default                      the agent at $SSH_AUTH_SOCK, as id "default"
//	ID                           the same agent, as id ID
//	ID=SOCKET                    the agent listening on SOCKET
//	ID=KEY[,KEY...]              these unencrypted private key files (PEM or
//	                             OpenSSH), loaded into an agent served here
//
// Load checks every Spec before a build starts (a socket must answer, a key
// must parse; an encrypted key is refused, as buildx refuses it, since there
// is no one to ask for its passphrase) and returns the Agents of the build.
//
// Agents.Serve serves one id on a new unix socket in a private (0700)
// directory for one RUN --mount=type=ssh step: the caller binds that socket
// into the step's sandbox, and closes the Server after the step, which
// stops it and removes the directory. Each connection gets a read-only view
// of the agent (list and sign; adding, removing and locking keys are
// refused, as in BuildKit): a forwarded agent is dialed per connection, a
// key agent lives in memory. Nothing here writes a key to disk, to a log or
// to an error message.
//
// The BuildKit engine passes the same Specs to BuildKit's session ssh
// provider (github.com/moby/buildkit/session/sshforward/sshprovider) after
// Load has checked them.
package sshagent
