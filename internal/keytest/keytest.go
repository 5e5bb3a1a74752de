// Package keytest makes SSH keys for tests, fresh on each call, so no key is ever committed:
// private keys in the OpenSSH, PKCS #1, PKCS #8 and SEC 1 formats, and public key lines. It
// uses the standard library only and is imported by tests alone.
package keytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
)

// OpenSSH returns an ed25519 private key in the OpenSSH format, as ssh-keygen writes it. An
// encrypted key gets the header of aes256-ctr with bcrypt and a random body: enough for any
// check that does not decrypt.
func OpenSSH(encrypted bool) string {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pubBlob := sshString(nil, []byte("ssh-ed25519"))
	pubBlob = sshString(pubBlob, pub)

	var section []byte
	check := make([]byte, 4)
	rand.Read(check)
	section = append(section, check...)
	section = append(section, check...)
	section = sshString(section, []byte("ssh-ed25519"))
	section = sshString(section, pub)
	section = sshString(section, priv)
	section = sshString(section, []byte("keytest"))
	for i := byte(1); len(section)%16 != 0; i++ {
		section = append(section, i)
	}

	cipher, kdf, opts := "none", "none", []byte{}
	if encrypted {
		cipher, kdf = "aes256-ctr", "bcrypt"
		salt := make([]byte, 16)
		rand.Read(salt)
		opts = sshString(nil, salt)
		opts = binary.BigEndian.AppendUint32(opts, 16)
		rand.Read(section)
	}
	b := []byte("openssh-key-v1\x00")
	b = sshString(b, []byte(cipher))
	b = sshString(b, []byte(kdf))
	b = sshString(b, opts)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = sshString(b, pubBlob)
	b = sshString(b, section)
	return string(pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: b}))
}

// PKCS1 returns an RSA private key as "RSA PRIVATE KEY" PEM (ssh-keygen -m PEM).
func PKCS1() string {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// PKCS8 returns an ed25519 private key as "PRIVATE KEY" PEM.
func PKCS8() string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// EC returns an ECDSA P-256 private key as "EC PRIVATE KEY" PEM.
func EC() string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// PublicLine returns an ed25519 public key line, as in a .pub file.
func PublicLine() string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	blob := sshString(nil, []byte("ssh-ed25519"))
	blob = sshString(blob, pub)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " keytest@example"
}

func sshString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
