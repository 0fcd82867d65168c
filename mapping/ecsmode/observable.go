package ecsmode

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/openctibeat/openctibeat/stix/pattern"
)

// fields is a flat map of dotted ECS field names to values.
type fields map[string]any

// observableFields maps one observable to ECS fields. It returns the
// threat.indicator.type ("" when ECS expects none for the STIX type), the
// display value, and the fields.
func observableFields(obs pattern.Observable) (typ, display string, f fields) {
	f = fields{}
	values := map[string]string{} // the last value of each property
	first := ""
	for i, a := range obs.Values {
		prop := a.Path.Property()
		if i == 0 {
			first = prop
		}
		values[prop] = a.Value.String()
	}
	t := observableTypes[obs.Type] // the zero value for a type not listed
	for _, p := range t.strs {
		if v := values[p.from]; v != "" {
			f[p.field] = v
		}
	}
	for _, p := range t.ints {
		setInt(f, p.field, values, p.from)
	}
	typ, display = t.ecsType, firstOf(values, t.display...)
	// Direct calls, not a function in the table: values stays on the stack.
	switch t.extra {
	case addressValue:
		if v, ok := values["value"]; ok {
			setAddress(f, v)
		}
	case urlValue:
		if v, ok := values["value"]; ok {
			setURL(f, v)
		}
	case fileHashes:
		setHashes(f, values)
		if v, ok := values["url"]; ok && obs.Type == "artifact" {
			setURL(f, v)
		}
	case registryPath:
		display = setRegistry(f, values)
	case emailSender:
		typ, display = emailMessage(f, values)
	case trafficEnds:
		display = networkTraffic(f, values)
	}
	if display == "" {
		display = values[first]
	}
	return typ, display, f
}

// observableType says how the values of one STIX observable type become
// ECS fields.
type observableType struct {
	ecsType string   // threat.indicator.type; "" when ECS has none
	strs    []prop   // fields copied from properties (when not empty)
	ints    []prop   // fields copied from integer properties
	display []string // the display value is the first non-empty of these
	extra   extra    // what plain copies cannot do
}

// prop is an ECS field and the STIX property it takes its value from.
type prop struct{ field, from string }

// extra is a mapping beyond plain copies.
type extra int

const (
	noExtra      extra = iota
	addressValue       // value: an address, or a CIDR block (setAddress)
	urlValue           // value: a URL and its parts (setURL)
	fileHashes         // hashes.*, and an artifact's url
	registryPath       // key and values[...] (setRegistry), also the display value
	emailSender        // the message's first address: type email-addr, display
	trafficEnds        // destination (else source) address and port, display
)

// observableTypes are the STIX observable types ecs mode maps. A type not
// listed gets no ECS field and no threat.indicator.type.
var observableTypes = map[string]observableType{
	"ipv4-addr": {ecsType: "ipv4-addr", display: []string{"value"}, extra: addressValue},
	"ipv6-addr": {ecsType: "ipv6-addr", display: []string{"value"}, extra: addressValue},
	// OpenCTI's hostname has no ECS type of its own.
	"domain-name":          {ecsType: "domain-name", strs: []prop{{"threat.indicator.url.domain", "value"}}, display: []string{"value"}},
	"hostname":             {ecsType: "domain-name", strs: []prop{{"threat.indicator.url.domain", "value"}}, display: []string{"value"}},
	"url":                  {ecsType: "url", display: []string{"value"}, extra: urlValue},
	"email-addr":           {ecsType: "email-addr", strs: []prop{{"threat.indicator.email.address", "value"}}, display: []string{"value"}},
	"email-message":        {extra: emailSender},
	"file":                 fileType("file"),
	"artifact":             fileType("artifact"),
	"directory":            {ecsType: "directory", strs: []prop{{"threat.indicator.file.directory", "path"}}, display: []string{"path"}},
	"windows-registry-key": {ecsType: "windows-registry-key", extra: registryPath},
	"x509-certificate": {
		ecsType: "x509-certificate",
		strs: []prop{
			{"threat.indicator.x509.serial_number", "serial_number"},
			{"threat.indicator.x509.issuer.distinguished_name", "issuer"},
			{"threat.indicator.x509.subject.distinguished_name", "subject"},
			{"threat.indicator.x509.version_number", "version"},
			{"threat.indicator.x509.not_before", "validity_not_before"},
			{"threat.indicator.x509.not_after", "validity_not_after"},
			{"threat.indicator.x509.signature_algorithm", "signature_algorithm"},
			{"threat.indicator.x509.public_key_algorithm", "subject_public_key_algorithm"},
		},
		display: []string{"hashes.SHA-256", "hashes.SHA-1", "serial_number", "subject"},
	},
	"autonomous-system": {
		ecsType: "autonomous-system",
		strs:    []prop{{"threat.indicator.as.organization.name", "name"}},
		ints:    []prop{{"threat.indicator.as.number", "number"}},
		display: []string{"number", "name"},
	},
	"network-traffic": {extra: trafficEnds},
	// These keep their value in opencti.observable.value only.
	"mac-addr":     {ecsType: "mac-addr", display: valueProps},
	"mutex":        {ecsType: "mutex", display: valueProps},
	"process":      {ecsType: "process", display: valueProps},
	"software":     {ecsType: "software", display: valueProps},
	"user-account": {ecsType: "user-account", display: valueProps},
}

// valueProps are where the types without ECS fields hold their value.
var valueProps = []string{"value", "name", "command_line", "cpe", "user_id", "account_login"}

// fileType maps a file or an artifact.
func fileType(typ string) observableType {
	return observableType{
		ecsType: typ,
		strs: []prop{
			{"threat.indicator.file.name", "name"},
			{"threat.indicator.file.mime_type", "mime_type"},
			{"threat.indicator.file.directory", "parent_directory_ref.path"},
		},
		ints:    []prop{{"threat.indicator.file.size", "size"}},
		display: []string{"hashes.SHA-256", "hashes.SHA-1", "hashes.MD5", "hashes.SHA-512", "name"},
		extra:   fileHashes,
	}
}

func setInt(f fields, field string, values map[string]string, prop string) {
	if v, ok := values[prop]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			f[field] = n
		}
	}
}

// emailMessage maps the first address of a message, sender first.
func emailMessage(f fields, values map[string]string) (typ, display string) {
	for _, p := range []string{"from_ref.value", "sender_ref.value", "to_refs[*].value", "cc_refs[*].value", "bcc_refs[*].value"} {
		if v, ok := values[p]; ok {
			f["threat.indicator.email.address"] = v
			return "email-addr", v
		}
	}
	return "", ""
}

// networkTraffic maps the destination (else the source) address and port
// and returns the display value.
func networkTraffic(f fields, values map[string]string) string {
	display := ""
	for _, p := range []string{"dst_ref.value", "src_ref.value"} {
		if v, ok := values[p]; ok {
			setAddress(f, v)
			display = v
			break
		}
	}
	for _, p := range []string{"dst_port", "src_port"} {
		if v, ok := values[p]; ok {
			setInt(f, "threat.indicator.port", values, p)
			if display == "" {
				display = v
			}
			break
		}
	}
	return display
}

func firstOf(values map[string]string, props ...string) string {
	for _, p := range props {
		if v := values[p]; v != "" {
			return v
		}
	}
	return ""
}

// setAddress writes an address: a single address (or a /32, /128 block)
// into threat.indicator.ip; a wider CIDR block, which an ip field rejects,
// into opencti.observable.ip_range.
func setAddress(f fields, v string) {
	if a, err := netip.ParseAddr(v); err == nil {
		f["threat.indicator.ip"] = a.String()
		return
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		if p.IsSingleIP() {
			f["threat.indicator.ip"] = p.Addr().String()
			return
		}
		f["opencti.observable.ip_range"] = p.Masked().String()
	}
}

// setURL writes url.full and url.original and, for a parsable absolute
// URL, its parts.
func setURL(f fields, v string) {
	f["threat.indicator.url.full"] = v
	f["threat.indicator.url.original"] = v
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return
	}
	f["threat.indicator.url.scheme"] = u.Scheme
	f["threat.indicator.url.domain"] = u.Hostname()
	if u.Path != "" {
		f["threat.indicator.url.path"] = u.Path
	}
	if u.RawQuery != "" {
		f["threat.indicator.url.query"] = u.RawQuery
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			f["threat.indicator.url.port"] = n
		}
	}
}

// hashFields maps STIX hash algorithm names (and common variants) to ECS.
var hashFields = map[string]string{
	"MD5": "md5", "SHA-1": "sha1", "SHA1": "sha1", "SHA-256": "sha256", "SHA256": "sha256",
	"SHA-384": "sha384", "SHA384": "sha384", "SHA-512": "sha512", "SHA512": "sha512",
	"SSDEEP": "ssdeep", "TLSH": "tlsh",
}

func setHashes(f fields, values map[string]string) {
	for prop, v := range values {
		algo, ok := strings.CutPrefix(prop, "hashes.")
		if !ok {
			continue
		}
		ecs, ok := hashFields[strings.ToUpper(algo)]
		if !ok {
			continue
		}
		if ecs != "ssdeep" {
			// Hex digests compare case-insensitively; events carry them
			// in lowercase. An SSDEEP value is case-sensitive text.
			v = strings.ToLower(v)
		}
		f["threat.indicator.file.hash."+ecs] = v
	}
}

// hives maps registry hive names to ECS's abbreviations.
var hives = map[string]string{
	"HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM",
	"HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU",
	"HKEY_USERS": "HKU", "HKU": "HKU",
	"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR",
	"HKEY_CURRENT_CONFIG": "HKCC", "HKCC": "HKCC",
}

// setRegistry maps a windows-registry-key: registry.path is the full path
// (hive, key and, when asserted, value name), as the prebuilt registry rule
// matches it against registry.path of events.
func setRegistry(f fields, values map[string]string) string {
	key := values["key"]
	path := key
	if key != "" {
		hive, rest, _ := strings.Cut(key, `\`)
		if abbr, ok := hives[strings.ToUpper(hive)]; ok {
			f["threat.indicator.registry.hive"] = abbr
			if rest != "" {
				f["threat.indicator.registry.key"] = rest
			}
		} else {
			f["threat.indicator.registry.key"] = key
		}
	}
	name := firstOf(values, "values[*].name", "values[0].name")
	if name != "" {
		f["threat.indicator.registry.value"] = name
		if key != "" {
			path = key + `\` + name
		}
	}
	if data := firstOf(values, "values[*].data", "values[0].data"); data != "" {
		f["threat.indicator.registry.data.strings"] = []any{data}
	}
	if dt := firstOf(values, "values[*].data_type", "values[0].data_type"); dt != "" {
		f["threat.indicator.registry.data.type"] = dt
	}
	if path != "" {
		f["threat.indicator.registry.path"] = path
	}
	if path == "" {
		return name
	}
	return path
}
