// Package secret seals small secrets (job environment values, and later credentials of
// attached computes) for storage, with AES-256-GCM under a key kept in a file of the server's
// data dir. A stolen database alone reveals no secret.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Box seals and opens secrets with one key. It is safe for concurrent use.
type Box struct{ aead cipher.AEAD }

const prefix = "sealed:v1:"

// OpenKeyFile loads the key at path, creating a new random key (mode 0600) if the file does
// not exist.
func OpenKeyFile(path string) (*Box, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create secret key %s: %w", path, err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key %s has %d bytes, want 32: restore it from a backup", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain into a printable string.
func (b *Box) Seal(plain []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return prefix + base64.StdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plain, nil))
}

// Open decrypts what Seal made. A string Seal did not make is returned as it is, so values
// stored before sealing began still read.
func (b *Box) Open(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return []byte(s), nil
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n {
		return nil, errors.New("secret: damaged sealed value")
	}
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return nil, errors.New("secret: sealed with another key, or damaged")
	}
	return plain, nil
}
