package trainyard

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a credential: a password, a private key, an access token, a kubeconfig. It never
// shows its value: fmt (every verb), log/slog and encoding/json all see "[redacted]", or ""
// when it is unset. So a secret that reaches a log line, an event or a response by mistake
// stays hidden; Reveal gives the value to the code that must use it.
type Secret struct{ value string }

// Redacted is what a set Secret prints as.
const Redacted = "[redacted]"

// NewSecret wraps a credential value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the value. Call it only where the value is used, never to print it.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return Redacted
}

// Format makes every fmt verb print String, so neither %v nor %d nor %#v shows the value.
func (s Secret) Format(f fmt.State, verb rune) { io.WriteString(f, s.String()) }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText hides the value from encoders that use encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
