package opencti

// Secret is a credential whose printed forms are redacted, so that it never
// reaches a log line by accident.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return `"[REDACTED]"` }

// MarshalText redacts the secret when the value is encoded.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the Authorization header only.
func (s Secret) Reveal() string { return string(s) }

// Unpack lets go-ucfg read the secret from a configuration string.
func (s *Secret) Unpack(v string) error {
	*s = Secret(v)
	return nil
}
