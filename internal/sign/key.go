package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// PEM block types of cosign's key files.
const (
	pemEncryptedKey       = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemEncryptedKeyLegacy = "ENCRYPTED COSIGN PRIVATE KEY"
	pemPublicKey          = "PUBLIC KEY"
)

// maxKeyFile bounds a key file; maxScryptN bounds the work factor a key
// file may ask for (cosign writes 65536).
const (
	maxKeyFile = 64 << 10
	maxScryptN = 1 << 20
)

// ErrWrongPassword is returned for a key file the password does not open.
var ErrWrongPassword = errors.New("wrong password: set COSIGN_PASSWORD to the password the key was made with")

// encryptedKey is the JSON inside cosign's encrypted PEM.
type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

func readPEM(path string) (*pem.Block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s is %d bytes: not a key file", path, len(b))
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM block: give a key made by `cosign generate-key-pair`", path)
	}
	return blk, nil
}

// LoadPrivateKey reads cosign's encrypted private key at path with
// password. A public key, a corrupt file or a wrong password is an error
// naming the file.
func LoadPrivateKey(path string, password []byte) (*ecdsa.PrivateKey, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch blk.Type {
	case pemEncryptedKey, pemEncryptedKeyLegacy:
	case pemPublicKey:
		return nil, fmt.Errorf("%s is a public key: sign with the private key (cosign.key), verify with the public one", path)
	default:
		return nil, fmt.Errorf("%s holds a %q PEM block, not cosign's encrypted private key (%s)", path, blk.Type, pemEncryptedKey)
	}
	var ek encryptedKey
	if err := json.Unmarshal(blk.Bytes, &ek); err != nil {
		return nil, fmt.Errorf("%s: corrupt encrypted key: %w", path, err)
	}
	p := ek.KDF.Params
	if ek.KDF.Name != "scrypt" || ek.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("%s: key encrypted with %s/%s; cosign's is scrypt/nacl/secretbox", path, ek.KDF.Name, ek.Cipher.Name)
	}
	if p.N < 2 || p.N > maxScryptN || p.N&(p.N-1) != 0 || p.R < 1 || p.R > 32 || p.P < 1 || p.P > 16 || len(ek.Cipher.Nonce) != 24 {
		return nil, fmt.Errorf("%s: corrupt encrypted key (scrypt N=%d r=%d p=%d, nonce %d bytes)", path, p.N, p.R, p.P, len(ek.Cipher.Nonce))
	}
	k, err := scrypt.Key(password, ek.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], k)
	copy(nonce[:], ek.Cipher.Nonce)
	der, ok := secretbox.Open(nil, ek.Ciphertext, &nonce, &key)
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, ErrWrongPassword)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt private key: %w", path, err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: a %T key; cosign keys are ECDSA P-256", path, priv)
	}
	return ec, nil
}

// LoadPublicKey reads a PKIX PEM public key (cosign.pub).
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if blk.Type != pemPublicKey {
		return nil, fmt.Errorf("%s holds a %q PEM block: verify with the public key (cosign.pub)", path, blk.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt public key: %w", path, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key; cosign keys are ECDSA", path, pub)
	}
	return ec, nil
}
