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
	values := map[string]string{}
	var order []string
	for _, a := range obs.Values {
		prop := a.Path.Property()
		if _, dup := values[prop]; !dup {
			order = append(order, prop)
		}
		values[prop] = a.Value.String()
	}
	first := ""
	if len(order) > 0 {
		first = values[order[0]]
	}
	set := func(field, prop string) {
		if v, ok := values[prop]; ok && v != "" {
			f[field] = v
		}
	}
	setInt := func(field, prop string) {
		if v, ok := values[prop]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				f[field] = n
			}
		}
	}

	switch obs.Type {
	case "ipv4-addr", "ipv6-addr":
		typ = obs.Type
		if v, ok := values["value"]; ok {
			display = v
			setAddress(f, v)
		}
	case "domain-name", "hostname":
		// OpenCTI's hostname has no ECS type of its own.
		typ = "domain-name"
		set("threat.indicator.url.domain", "value")
		display = values["value"]
	case "url":
		typ = "url"
		if v, ok := values["value"]; ok {
			display = v
			setURL(f, v)
		}
	case "email-addr":
		typ = "email-addr"
		set("threat.indicator.email.address", "value")
		display = values["value"]
	case "email-message":
		for _, p := range []string{"from_ref.value", "sender_ref.value", "to_refs[*].value", "cc_refs[*].value", "bcc_refs[*].value"} {
			if v, ok := values[p]; ok {
				typ = "email-addr"
				f["threat.indicator.email.address"] = v
				display = v
				break
			}
		}
	case "file", "artifact":
		typ = obs.Type
		setHashes(f, values)
		set("threat.indicator.file.name", "name")
		setInt("threat.indicator.file.size", "size")
		set("threat.indicator.file.mime_type", "mime_type")
		set("threat.indicator.file.directory", "parent_directory_ref.path")
		if obs.Type == "artifact" {
			if v, ok := values["url"]; ok {
				setURL(f, v)
			}
		}
		display = firstOf(values, "hashes.SHA-256", "hashes.SHA-1", "hashes.MD5", "hashes.SHA-512", "name")
	case "directory":
		typ = "directory"
		set("threat.indicator.file.directory", "path")
		display = values["path"]
	case "windows-registry-key":
		typ = "windows-registry-key"
		display = setRegistry(f, values)
	case "x509-certificate":
		typ = "x509-certificate"
		set("threat.indicator.x509.serial_number", "serial_number")
		set("threat.indicator.x509.issuer.distinguished_name", "issuer")
		set("threat.indicator.x509.subject.distinguished_name", "subject")
		set("threat.indicator.x509.version_number", "version")
		set("threat.indicator.x509.not_before", "validity_not_before")
		set("threat.indicator.x509.not_after", "validity_not_after")
		set("threat.indicator.x509.signature_algorithm", "signature_algorithm")
		set("threat.indicator.x509.public_key_algorithm", "subject_public_key_algorithm")
		display = firstOf(values, "hashes.SHA-256", "hashes.SHA-1", "serial_number", "subject")
	case "autonomous-system":
		typ = "autonomous-system"
		setInt("threat.indicator.as.number", "number")
		set("threat.indicator.as.organization.name", "name")
		display = firstOf(values, "number", "name")
	case "network-traffic":
		for _, p := range []string{"dst_ref.value", "src_ref.value"} {
			if v, ok := values[p]; ok {
				setAddress(f, v)
				display = v
				break
			}
		}
		for _, p := range []string{"dst_port", "src_port"} {
			if _, ok := values[p]; ok {
				setInt("threat.indicator.port", p)
				if display == "" {
					display = values[p]
				}
				break
			}
		}
	case "mac-addr", "mutex", "process", "software", "user-account":
		typ = obs.Type
		display = firstOf(values, "value", "name", "command_line", "cpe", "user_id", "account_login")
	}
	if display == "" {
		display = first
	}
	return typ, display, f
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
