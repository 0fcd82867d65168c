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
	values := make(map[string]string, len(obs.Values))
	first := ""
	for i, a := range obs.Values {
		v := a.Value.String()
		prop := a.Path.Property()
		if i == 0 {
			first = prop
		}
		values[prop] = v // the last value of a property counts
	}
	if m, ok := observableTypes[obs.Type]; ok {
		typ, display = m(f, values)
	}
	if display == "" {
		display = values[first]
	}
	return typ, display, f
}

// observableMapper writes the ECS fields of an observable's values (by
// property) and returns its threat.indicator.type and display value ("":
// its first property's value).
type observableMapper func(f fields, values map[string]string) (typ, display string)

// observableTypes are the STIX observable types ecs mode maps, each to its
// mapper. A type not listed gets no ECS field and no threat.indicator.type.
var observableTypes = map[string]observableMapper{
	"ipv4-addr": address("ipv4-addr"),
	"ipv6-addr": address("ipv6-addr"),
	// OpenCTI's hostname has no ECS type of its own.
	"domain-name":          copied("domain-name", []prop{{"threat.indicator.url.domain", "value"}}, nil, "value"),
	"hostname":             copied("domain-name", []prop{{"threat.indicator.url.domain", "value"}}, nil, "value"),
	"url":                  urlObservable,
	"email-addr":           copied("email-addr", []prop{{"threat.indicator.email.address", "value"}}, nil, "value"),
	"email-message":        emailMessage,
	"file":                 file("file"),
	"artifact":             file("artifact"),
	"directory":            copied("directory", []prop{{"threat.indicator.file.directory", "path"}}, nil, "path"),
	"windows-registry-key": registryKey,
	"x509-certificate": copied("x509-certificate", []prop{
		{"threat.indicator.x509.serial_number", "serial_number"},
		{"threat.indicator.x509.issuer.distinguished_name", "issuer"},
		{"threat.indicator.x509.subject.distinguished_name", "subject"},
		{"threat.indicator.x509.version_number", "version"},
		{"threat.indicator.x509.not_before", "validity_not_before"},
		{"threat.indicator.x509.not_after", "validity_not_after"},
		{"threat.indicator.x509.signature_algorithm", "signature_algorithm"},
		{"threat.indicator.x509.public_key_algorithm", "subject_public_key_algorithm"},
	}, nil, "hashes.SHA-256", "hashes.SHA-1", "serial_number", "subject"),
	"autonomous-system": copied("autonomous-system",
		[]prop{{"threat.indicator.as.organization.name", "name"}},
		[]prop{{"threat.indicator.as.number", "number"}},
		"number", "name"),
	"network-traffic": networkTraffic,
	// These keep their value in opencti.observable.value only.
	"mac-addr":     copied("mac-addr", nil, nil, valueProps...),
	"mutex":        copied("mutex", nil, nil, valueProps...),
	"process":      copied("process", nil, nil, valueProps...),
	"software":     copied("software", nil, nil, valueProps...),
	"user-account": copied("user-account", nil, nil, valueProps...),
}

// valueProps are where the types without ECS fields hold their value.
var valueProps = []string{"value", "name", "command_line", "cpe", "user_id", "account_login"}

// prop is an ECS field and the STIX property it takes its value from.
type prop struct{ field, from string }

// copied maps a type whose fields are plain copies of properties: strs
// (when not empty) and ints (when integers); the display value is the first
// non-empty of display.
func copied(typ string, strs, ints []prop, display ...string) observableMapper {
	return func(f fields, values map[string]string) (string, string) {
		for _, p := range strs {
			if v := values[p.from]; v != "" {
				f[p.field] = v
			}
		}
		for _, p := range ints {
			setInt(f, p.field, values, p.from)
		}
		return typ, firstOf(values, display...)
	}
}

func setInt(f fields, field string, values map[string]string, prop string) {
	if v, ok := values[prop]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			f[field] = n
		}
	}
}

func address(typ string) observableMapper {
	return func(f fields, values map[string]string) (string, string) {
		v, ok := values["value"]
		if ok {
			setAddress(f, v)
		}
		return typ, v
	}
}

func urlObservable(f fields, values map[string]string) (string, string) {
	v, ok := values["value"]
	if ok {
		setURL(f, v)
	}
	return "url", v
}

// emailMessage maps the first address of a message, sender first.
func emailMessage(f fields, values map[string]string) (string, string) {
	for _, p := range []string{"from_ref.value", "sender_ref.value", "to_refs[*].value", "cc_refs[*].value", "bcc_refs[*].value"} {
		if v, ok := values[p]; ok {
			f["threat.indicator.email.address"] = v
			return "email-addr", v
		}
	}
	return "", ""
}

// file maps a file or an artifact (whose url is mapped too).
func file(typ string) observableMapper {
	plain := copied(typ, []prop{
		{"threat.indicator.file.name", "name"},
		{"threat.indicator.file.mime_type", "mime_type"},
		{"threat.indicator.file.directory", "parent_directory_ref.path"},
	}, []prop{{"threat.indicator.file.size", "size"}},
		"hashes.SHA-256", "hashes.SHA-1", "hashes.MD5", "hashes.SHA-512", "name")
	return func(f fields, values map[string]string) (string, string) {
		setHashes(f, values)
		if v, ok := values["url"]; ok && typ == "artifact" {
			setURL(f, v)
		}
		return plain(f, values)
	}
}

func registryKey(f fields, values map[string]string) (string, string) {
	return "windows-registry-key", setRegistry(f, values)
}

// networkTraffic maps the destination (else the source) address and port.
func networkTraffic(f fields, values map[string]string) (string, string) {
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
	return "", display
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
