package sshagent

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// The agent protocol's messages a build step may send (draft-miller-ssh-agent
// section 5.1); every other request (adding, removing or locking keys,
// extensions) gets SSH_AGENT_FAILURE, as BuildKit's forwarded agents answer
// them, so a step cannot change the user's agent or what a later step sees.
const (
	agentFailure           = 5
	agentRequestIdentities = 11
	agentIdentitiesAnswer  = 12
	agentSignRequest       = 13
	agentSignResponse      = 14
)

// maxMessage bounds a request and a forwarded reply (x/crypto's agent
// bounds them at 16 MiB; a list of keys or a signature is far smaller).
const maxMessage = 1 << 20

// serve answers one connection until it ends. It speaks the protocol
// itself rather than through agent.ServeAgent, which logs every refused
// request with the log package: a library prints nothing.
func (src *source) serve(c net.Conn) {
	var up net.Conn
	if src.socket != "" {
		var err error
		if up, err = net.DialTimeout("unix", src.socket, dialTimeout); err != nil {
			return // the client sees the connection close
		}
		defer up.Close()
	}
	for {
		req, err := readMessage(c)
		if err != nil {
			return
		}
		rep := []byte{agentFailure}
		switch req[0] {
		case agentRequestIdentities, agentSignRequest:
			if up == nil {
				rep = answer(src.keys, req)
				break
			}
			if err := writeMessage(up, req); err != nil {
				return
			}
			if rep, err = readMessage(up); err != nil {
				return
			}
		}
		if err := writeMessage(c, rep); err != nil {
			return
		}
	}
}

// answer is a in-memory agent's reply to a list or sign request.
func answer(a agent.ExtendedAgent, req []byte) []byte {
	fail := []byte{agentFailure}
	switch req[0] {
	case agentRequestIdentities:
		keys, err := a.List()
		if err != nil {
			return fail
		}
		var rest []byte
		for _, k := range keys {
			rest = append(rest, ssh.Marshal(struct{ Blob, Comment []byte }{k.Blob, []byte(k.Comment)})...)
		}
		return ssh.Marshal(identitiesAnswer{NumKeys: uint32(len(keys)), Keys: rest})
	case agentSignRequest:
		var sr signRequest
		if err := ssh.Unmarshal(req, &sr); err != nil {
			return fail
		}
		pub, err := ssh.ParsePublicKey(sr.KeyBlob)
		if err != nil {
			return fail
		}
		sig, err := a.SignWithFlags(pub, sr.Data, agent.SignatureFlags(sr.Flags))
		if err != nil {
			return fail
		}
		return ssh.Marshal(signResponse{SigBlob: ssh.Marshal(sig)})
	}
	return fail
}

type identitiesAnswer struct {
	NumKeys uint32 `sshtype:"12"`
	Keys    []byte `ssh:"rest"`
}

type signRequest struct {
	KeyBlob []byte `sshtype:"13"`
	Data    []byte
	Flags   uint32
}

type signResponse struct {
	SigBlob []byte `sshtype:"14"`
}

// readMessage reads one length-prefixed message.
func readMessage(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(n[:])
	if l == 0 || l > maxMessage {
		return nil, fmt.Errorf("agent message of %d bytes", l)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// writeMessage writes one length-prefixed message.
func writeMessage(w io.Writer, b []byte) error {
	m := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(m, uint32(len(b)))
	copy(m[4:], b)
	_, err := w.Write(m)
	return err
}
