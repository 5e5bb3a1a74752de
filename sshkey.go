package trainyard

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"strings"
)

// PasswordRule is SPEC §1.2 rule 2 for the admin password of a cluster's nodes.
const PasswordRule = "it must contain characters of at least 3 of these 4 classes: lowercase letters, uppercase letters, " +
	"digits, and special characters (`~!@#$%^&*()=+_[]{}|;:./'\",<>?)"

// passwordSpecials are the special characters SPEC §1.2 counts.
const passwordSpecials = "`~!@#$%^&*()=+_[]{}|;:./'\",<>?"

// CheckAdminPassword applies PasswordRule. field names the key in messages; the password is
// never quoted.
func CheckAdminPassword(field string, pw Secret) error {
	var lower, upper, digit, special bool
	for _, r := range pw.Reveal() {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune(passwordSpecials, r):
			special = true
		}
	}
	n := 0
	for _, ok := range []bool{lower, upper, digit, special} {
		if ok {
			n++
		}
	}
	if n < 3 {
		return Errorf(Invalid, "%s: the password (not shown) has characters of %d of the 4 classes; %s. Choose a stronger password", field, n, PasswordRule)
	}
	return nil
}

// CheckPrivateKey checks that key is a private key an SSH client can use, without a network
// and with the standard library only: one PEM block of a private-key type, whose body parses
// as that type (PKCS #1, PKCS #8, SEC 1, or the OpenSSH format's header and public key). An
// encrypted key needs a passphrase; whether the passphrase is right is checked when trainyard
// first connects, not here. field names the key in messages; the key is never quoted.
func CheckPrivateKey(field string, key Secret, passphrase bool) error {
	data := []byte(strings.TrimSpace(key.Reveal()))
	bad := func(why string) error {
		return Errorf(Invalid, "%s: the private key (not shown) %s; give the private key file your SSH client uses, e.g. ~/.ssh/id_ed25519", field, why)
	}
	switch {
	case len(data) == 0:
		return bad("is empty")
	case isPublicKeyLine(string(data)):
		return bad("is a public key (the content of a .pub file)")
	case bytes.HasPrefix(data, []byte("PuTTY-User-Key-File")):
		return bad("is in PuTTY's format; convert it with: puttygen key.ppk -O private-openssh -o key")
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return bad("is not PEM text (no -----BEGIN ... PRIVATE KEY----- line)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return bad("has more than one PEM block; give one key")
	}
	encrypted := false
	switch block.Type {
	case "OPENSSH PRIVATE KEY":
		cipher, err := openSSHCipher(block.Bytes)
		if err != nil {
			return bad("is damaged: " + err.Error())
		}
		encrypted = cipher != "none"
	case "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY":
		if block.Headers["Proc-Type"] == "4,ENCRYPTED" {
			encrypted = true
			break
		}
		var err error
		switch block.Type {
		case "RSA PRIVATE KEY":
			_, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			_, err = x509.ParseECPrivateKey(block.Bytes)
		}
		if err != nil {
			return bad("does not parse as a " + block.Type)
		}
	case "PRIVATE KEY":
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			return bad("does not parse as a PKCS #8 private key")
		}
	case "ENCRYPTED PRIVATE KEY":
		encrypted = true
	default:
		return bad(fmt.Sprintf("is a PEM block of type %q, not a private key", block.Type))
	}
	switch {
	case encrypted && !passphrase:
		return Errorf(Invalid, "%s: the private key is encrypted; give its passphrase in ssh_settings.ssh_private_key_passphrase (--ssh-private-key-passphrase)", field)
	case !encrypted && passphrase:
		return Errorf(Invalid, "ssh_settings.ssh_private_key_passphrase is set but the private key is not encrypted; remove the passphrase")
	}
	return nil
}

// openSSHCipher reads the header of an OpenSSH private key ("openssh-key-v1") and returns its
// cipher name, "none" when the key is not encrypted.
func openSSHCipher(b []byte) (string, error) {
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(b, []byte(magic)) {
		return "", fmt.Errorf("no openssh-key-v1 header")
	}
	b = b[len(magic):]
	var fields [3][]byte // cipher name, KDF name, KDF options
	for i := range fields {
		var ok bool
		if fields[i], b, ok = sshString(b); !ok {
			return "", fmt.Errorf("truncated header")
		}
	}
	if len(b) < 4 {
		return "", fmt.Errorf("truncated header")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if n == 0 {
		return "", fmt.Errorf("it holds no key")
	}
	pub, _, ok := sshString(b)
	if !ok {
		return "", fmt.Errorf("truncated public key")
	}
	if typ, _, ok := sshString(pub); !ok || !knownKeyType(string(typ)) {
		return "", fmt.Errorf("unknown key type")
	}
	return string(fields[0]), nil
}

// sshString reads one length-prefixed string of the SSH wire format (RFC 4251 §5).
func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, b, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, b, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func knownKeyType(t string) bool {
	switch t {
	case "ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com":
		return true
	}
	return false
}

// isPublicKeyLine reports whether s looks like an OpenSSH public key line.
func isPublicKeyLine(s string) bool {
	f := strings.Fields(s)
	return len(f) >= 2 && knownKeyType(f[0])
}

// CheckPublicKey checks that key is one OpenSSH public key line, "TYPE BASE64 [COMMENT]", whose
// body names the same type.
func CheckPublicKey(field, key string) error {
	bad := func(why string) error {
		return Errorf(Invalid, "%s: %s; give one OpenSSH public key line such as \"ssh-ed25519 AAAAC3Nz… me@host\" (the content of ~/.ssh/id_ed25519.pub)", field, why)
	}
	if strings.Contains(key, "PRIVATE KEY") {
		return bad("this is a private key (not shown), not a public key; never share it")
	}
	f := strings.Fields(key)
	if len(f) < 2 || !knownKeyType(f[0]) {
		return bad(fmt.Sprintf("%q does not start with a key type such as ssh-ed25519 or ssh-rsa", abbreviate(key, 24)))
	}
	body, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return bad("the key body is not base64")
	}
	if typ, _, ok := sshString(body); !ok || string(typ) != f[0] {
		return bad("the key body does not match its type " + f[0])
	}
	return nil
}

// abbreviate shortens s to n bytes for a message.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
