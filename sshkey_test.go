package trainyard_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/keytest"
)

func TestCheckPrivateKey(t *testing.T) {
	legacyEncrypted := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: []byte("sealed")}))
	tests := []struct {
		name       string
		key        string
		passphrase bool
		wantErr    string // "" when valid
	}{
		{name: "openssh ed25519", key: keytest.OpenSSH(false)},
		{name: "openssh encrypted with passphrase", key: keytest.OpenSSH(true), passphrase: true},
		{name: "pkcs1 rsa", key: keytest.PKCS1()},
		{name: "pkcs8", key: keytest.PKCS8()},
		{name: "sec1 ec", key: keytest.EC()},
		{name: "legacy encrypted pem with passphrase", key: legacyEncrypted, passphrase: true},
		{name: "surrounding white space", key: "\n\n" + keytest.OpenSSH(false) + "\n  "},
		{name: "empty", key: "", wantErr: "is empty"},
		{name: "a public key", key: keytest.PublicLine(), wantErr: "is a public key"},
		{name: "putty", key: "PuTTY-User-Key-File-3: ssh-ed25519\n", wantErr: "PuTTY's format"},
		{name: "not pem", key: "hello", wantErr: "is not PEM text"},
		{name: "two keys", key: keytest.PKCS8() + keytest.PKCS8(), wantErr: "more than one PEM block"},
		{name: "a certificate", key: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), wantErr: `type "CERTIFICATE"`},
		{name: "damaged pkcs1", key: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")})), wantErr: "does not parse as a RSA PRIVATE KEY"},
		{name: "damaged pkcs8", key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})), wantErr: "PKCS #8"},
		{name: "damaged ec", key: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")})), wantErr: "EC PRIVATE KEY"},
		{name: "damaged openssh", key: string(pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("openssh-key-v1\x00\x00\x00")})),
			wantErr: "is damaged: truncated header"},
		{name: "openssh without magic", key: string(pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("junk")})),
			wantErr: "no openssh-key-v1 header"},
		{name: "openssh encrypted without passphrase", key: keytest.OpenSSH(true), wantErr: "the private key is encrypted"},
		{name: "pkcs8 encrypted without passphrase", key: string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})),
			wantErr: "the private key is encrypted"},
		{name: "legacy encrypted without passphrase", key: legacyEncrypted, wantErr: "the private key is encrypted"},
		{name: "passphrase for a plain key", key: keytest.OpenSSH(false), passphrase: true, wantErr: "the private key is not encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := trainyard.CheckPrivateKey("ssh_settings.ssh_private_key_file", trainyard.NewSecret(tt.key), tt.passphrase)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckPrivateKey() = %v, want nil", err)
				}
				return
			}
			wantInvalid(t, err, tt.wantErr)
			if body := strings.TrimSpace(tt.key); len(body) > 8 && strings.Contains(err.Error(), body[len(body)/2:]) {
				t.Errorf("CheckPrivateKey() = %v: repeats the key", err)
			}
		})
	}
}

func TestCheckPublicKey(t *testing.T) {
	if err := trainyard.CheckPublicKey("ssh_settings.ssh_key_value", keytest.PublicLine()); err != nil {
		t.Errorf("CheckPublicKey(a .pub line) = %v, want nil", err)
	}
	line := keytest.PublicLine()
	f := strings.Fields(line)
	tests := []struct{ key, wantErr string }{
		{"hello world", `"hello world" does not start with a key type`},
		{"ssh-ed25519", "does not start with a key type"},
		{"ssh-ed25519 !!!", "the key body is not base64"},
		{"ssh-rsa " + f[1], "the key body does not match its type ssh-rsa"},
		{keytest.PKCS8(), "this is a private key (not shown)"},
	}
	for _, tt := range tests {
		err := trainyard.CheckPublicKey("ssh_settings.ssh_key_value", tt.key)
		wantInvalid(t, err, "ssh_settings.ssh_key_value", tt.wantErr, "OpenSSH public key line")
		if strings.Contains(err.Error(), "PRIVATE KEY-----\n") {
			t.Errorf("CheckPublicKey() = %v: repeats a private key", err)
		}
	}
}

func TestCheckAdminPassword(t *testing.T) {
	tests := []struct {
		pw      string
		classes int // of 4; valid from 3
	}{
		{"Passw0rd", 3},
		{"passw0rd!", 3},
		{"PASSWORD1!", 3},
		{"Pa$$word", 3},
		{"Aa1_", 4},
		{"example-password", 1}, // '-' is not one of the special characters (corpus cluster-ssh-password.yml)
		{"password1", 2},
		{"Password", 2},
		{"", 0},
	}
	for _, tt := range tests {
		err := trainyard.CheckAdminPassword("ssh_settings.admin_password", trainyard.NewSecret(tt.pw))
		if tt.classes >= 3 {
			if err != nil {
				t.Errorf("CheckAdminPassword(%q) = %v, want nil", tt.pw, err)
			}
			continue
		}
		wantInvalid(t, err, "ssh_settings.admin_password", fmt.Sprintf("has characters of %d of the 4 classes", tt.classes), trainyard.PasswordRule)
		if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
			t.Errorf("CheckAdminPassword() = %v: repeats the password", err)
		}
	}
}

func TestSSHSettingsValidate(t *testing.T) {
	pub := keytest.PublicLine()
	tests := []struct {
		name    string
		typ     trainyard.ComputeType
		s       trainyard.SSHSettings
		wantErr []string
	}{
		{name: "cluster user and password", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminUsername: "azureuser", AdminPassword: secret(canary)}},
		{name: "cluster user and key", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminUsername: "azureuser", PublicKey: pub}},
		{name: "cluster user, password and key", typ: trainyard.TypeAmlCompute,
			s: trainyard.SSHSettings{AdminUsername: "azureuser", AdminPassword: secret(canary), PublicKey: pub}},
		{name: "rule 1: password without user", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminPassword: secret(canary)},
			wantErr: []string{"ssh_settings.admin_username is required"}},
		{name: "rule 1: user without password or key", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminUsername: "azureuser"},
			wantErr: []string{`user "azureuser" needs admin_password or ssh_key_value`}},
		{name: "rule 2: weak password", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminUsername: "u", AdminPassword: secret("example-password")},
			wantErr: []string{"ssh_settings.admin_password", "3 of these 4 classes"}},
		{name: "cluster bad public key", typ: trainyard.TypeAmlCompute, s: trainyard.SSHSettings{AdminUsername: "u", PublicKey: "ssh-rsa"},
			wantErr: []string{"ssh_settings.ssh_key_value"}},
		{name: "instance key", typ: trainyard.TypeComputeInstance, s: trainyard.SSHSettings{PublicKey: pub}},
		{name: "instance user", typ: trainyard.TypeComputeInstance, s: trainyard.SSHSettings{AdminUsername: "u", PublicKey: pub},
			wantErr: []string{"admin user is assigned by the server"}},
		{name: "instance password", typ: trainyard.TypeComputeInstance, s: trainyard.SSHSettings{AdminPassword: secret(canary)},
			wantErr: []string{"takes no password"}},
		{name: "instance nothing", typ: trainyard.TypeComputeInstance, s: trainyard.SSHSettings{},
			wantErr: []string{"give ssh_settings.ssh_key_value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate(tt.typ)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			wantInvalid(t, err, tt.wantErr...)
			if strings.Contains(err.Error(), canary) {
				t.Errorf("Validate() = %v: repeats the password", err)
			}
		})
	}
}

// A Secret never shows its value, whatever prints it.
func TestSecretNeverPrints(t *testing.T) {
	s := trainyard.NewSecret(canary)
	type holder struct {
		Name     string
		Password trainyard.Secret
	}
	h := holder{Name: "vm", Password: s}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("attach", "password", s, "holder", h)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("attach", "password", s)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", h, h, h), fmt.Sprintf("%v", &h), string(js), logged.String(), s.String(),
	} {
		if strings.Contains(out, canary) || strings.Contains(out, fmt.Sprintf("%x", canary)) {
			t.Errorf("printed %q: shows the secret", out)
		}
		if !strings.Contains(out, trainyard.Redacted) {
			t.Errorf("printed %q: want %s in its place", out, trainyard.Redacted)
		}
	}
	if s.Reveal() != canary || !s.IsSet() {
		t.Errorf("Reveal() = %q, IsSet() = %v; want the value", s.Reveal(), s.IsSet())
	}
	if unset := (trainyard.Secret{}); unset.IsSet() || unset.String() != "" {
		t.Errorf("the zero Secret: IsSet %v, String %q; want unset and empty", unset.IsSet(), unset.String())
	}
}
