package filter

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Config is the openctibeat.filter section. Every filter is off when
// unset; an indicator must pass all that are set.
type Config struct {
	// Labels keeps the indicators carrying at least one of these labels
	// (case-insensitive). Empty, or ["*"], keeps every indicator.
	Labels []string `config:"labels"`
	// Types keeps the indicators about at least one of these observable
	// types: STIX cyber-observable types (also ECS threat.indicator.type
	// values) such as ipv4-addr, domain-name, url, file, and OpenCTI's own
	// (hostname, cryptocurrency-wallet, ...), case-insensitive. An
	// indicator's types are its OpenCTI main observable type and the
	// object types its STIX pattern compares.
	Types []string `config:"types"`
	// MinScore keeps the indicators whose OpenCTI score (0-100) is at least
	// this; an indicator without a score does not pass.
	MinScore *int `config:"min_score"`
	// TLPCeiling drops the indicators marked with a more restrictive TLP:
	// CLEAR (= WHITE) < GREEN < AMBER < AMBER+STRICT < RED. An indicator
	// without a TLP marking passes.
	TLPCeiling string `config:"tlp_ceiling"`
	// Detection keeps only the indicators whose OpenCTI detection flag
	// equals it (a missing flag counts as false, OpenCTI's default).
	Detection *bool `config:"detection"`
}

// DefaultConfig returns the defaults: no filter.
func DefaultConfig() Config { return Config{} }

// tlpRanks orders the TLP levels by restrictiveness.
var tlpRanks = map[string]int{
	"CLEAR": 1, "WHITE": 1, "GREEN": 2, "AMBER": 3, "AMBER+STRICT": 4, "RED": 5,
}

// knownTypes are the observable types (normalised, see normType).
var knownTypes = map[string]bool{
	// STIX 2.1 cyber-observable objects.
	"artifact": true, "autonomous-system": true, "directory": true, "domain-name": true,
	"email-addr": true, "email-message": true, "file": true, "ipv4-addr": true,
	"ipv6-addr": true, "mac-addr": true, "mutex": true, "network-traffic": true,
	"process": true, "software": true, "url": true, "user-account": true,
	"windows-registry-key": true, "x509-certificate": true,
	// OpenCTI's own observable types.
	"hostname": true, "cryptocurrency-wallet": true, "cryptographic-key": true,
	"user-agent": true, "phone-number": true, "bank-account": true, "payment-card": true,
	"text": true, "credential": true, "tracking-number": true, "media-content": true,
	"persona": true, "imei": true, "iccid": true, "imsi": true, "ssh-key": true,
}

// normType maps OpenCTI's and STIX's spellings of a type to one form:
// "IPv4-Addr" -> "ipv4-addr", "StixFile" and "File-SHA256" -> "file".
func normType(s string) string {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "stixfile" || strings.HasPrefix(t, "file-") {
		return "file"
	}
	return t
}

// normTLP maps "tlp:amber+strict", "Amber+Strict" -> "AMBER+STRICT".
func normTLP(s string) string {
	t := strings.ToUpper(strings.TrimSpace(s))
	return strings.TrimPrefix(t, "TLP:")
}

// TLPLevel returns the TLP level named by s ("tlp:amber", "Amber" ->
// "AMBER"); ok is false when s names none.
func TLPLevel(s string) (level string, ok bool) {
	l := normTLP(s)
	_, ok = tlpRanks[l]
	return l, ok
}

// Validate names the key, the value's problem and the fix.
func (c *Config) Validate() error {
	const p = "openctibeat.filter."
	var errs []error
	for _, l := range c.Labels {
		switch {
		case strings.TrimSpace(l) == "":
			errs = append(errs, fmt.Errorf("%slabels holds an empty label: remove it, or leave labels empty to keep every indicator", p))
		case l == "*" && len(c.Labels) > 1:
			errs = append(errs, fmt.Errorf("%slabels %q mixes \"*\" (every indicator) with labels: give either [\"*\"] or the labels to keep", p, c.Labels))
		}
	}
	for _, t := range c.Types {
		if !knownTypes[normType(t)] {
			errs = append(errs, fmt.Errorf("%stypes entry %q is not an observable type: use STIX observable types such as %s", p, t, strings.Join(typeExamples(), ", ")))
		}
	}
	if c.MinScore != nil && (*c.MinScore < 0 || *c.MinScore > 100) {
		errs = append(errs, fmt.Errorf("%smin_score %d is outside 0-100: give an OpenCTI score between 0 and 100, or remove the key", p, *c.MinScore))
	}
	if c.TLPCeiling != "" {
		if _, ok := tlpRanks[normTLP(c.TLPCeiling)]; !ok {
			errs = append(errs, fmt.Errorf("%stlp_ceiling %q is not a TLP level: use CLEAR, WHITE, GREEN, AMBER, AMBER+STRICT or RED", p, c.TLPCeiling))
		}
	}
	return errors.Join(errs...)
}

func typeExamples() []string {
	out := make([]string, 0, len(knownTypes))
	for t := range knownTypes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
