package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSeed is the generator's seed: the stream depends only on it and N.
const DefaultSeed = 6

// baseMillis is the stream id time of event 0 (2026-01-01T00:00:00Z); event
// i has id "<baseMillis+i>-0".
const baseMillis int64 = 1767225600000

// octiExtension is OpenCTI's STIX property extension.
const octiExtension = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

// Data is a generated stream: the SSE bytes of N create events, one after
// the other, as OpenCTI frames them ("id:", "event:", "data:", blank line).
type Data struct {
	N     int
	Bytes []byte
	// Ends[i] is the offset just past event i in Bytes.
	Ends []int
}

// EventBytes returns the SSE frame of event i.
func (d *Data) EventBytes(i int) []byte {
	start := 0
	if i > 0 {
		start = d.Ends[i-1]
	}
	return d.Bytes[start:d.Ends[i]]
}

// LastID is the id of the last event.
func (d *Data) LastID() string { return EventID(d.N - 1) }

// Generate makes the stream of n events for seed, on every core.
func Generate(n int, seed uint64) *Data {
	g := Generator{Seed: seed}
	const chunk = 4096
	parts := make([][]byte, (n+chunk-1)/chunk)
	ends := make([]int, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= len(parts) {
					return
				}
				lo, hi := c*chunk, min((c+1)*chunk, n)
				b := make([]byte, 0, (hi-lo)*2200)
				for i := lo; i < hi; i++ {
					b = g.AppendSSE(b, i)
					ends[i] = len(b) // relative to the chunk for now
				}
				parts[c] = b
			}
		})
	}
	wg.Wait()
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	d := &Data{N: n, Ends: ends, Bytes: make([]byte, 0, total)}
	for c, p := range parts {
		off := len(d.Bytes)
		d.Bytes = append(d.Bytes, p...)
		for i := c * chunk; i < min((c+1)*chunk, n); i++ {
			ends[i] += off
		}
	}
	return d
}

// EventID is the stream id of event i.
func EventID(i int) string {
	return strconv.FormatInt(baseMillis+int64(i), 10) + "-0"
}

// EventIndex is the index of the event with stream id id.
func EventIndex(id string) (int, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, false
	}
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || v < baseMillis {
		return 0, false
	}
	return int(v - baseMillis), true
}

// InternalID is the OpenCTI internal id of event i's indicator: a UUID
// whose last group is i in hex, so that a document id (which starts with
// it) maps back to its event.
func InternalID(seed uint64, i int) string {
	r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)))
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff,
		0x8000|r.Uint32()&0x3fff, uint64(i)&0xffffffffffff)
}

// EventOfDocID is the event index encoded in a document id that starts with
// an InternalID ("<uuid>:<suffix>").
func EventOfDocID(id []byte) (int, bool) {
	if len(id) < 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0, false
	}
	v := 0
	for _, c := range id[24:36] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// Generator makes event i of the stream, deterministically: each event
// draws from its own random source seeded by (Seed, i).
type Generator struct {
	Seed uint64
}

// AppendSSE appends the SSE frame of event i.
func (g Generator) AppendSSE(dst []byte, i int) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, EventID(i)...)
	dst = append(dst, "\nevent: create\ndata: "...)
	dst = g.AppendEnvelope(dst, i)
	return append(dst, "\n\n"...)
}

// Envelope is the data of event i: OpenCTI's event envelope around the
// indicator.
func (g Generator) Envelope(i int) string { return string(g.AppendEnvelope(nil, i)) }

// AppendEnvelope appends the data of event i.
func (g Generator) AppendEnvelope(dst []byte, i int) []byte {
	r := rand.New(rand.NewPCG(g.Seed, uint64(i)))
	ind := g.indicator(r, i)
	w := jsonWriter{b: dst}
	w.open()
	w.str("version", "4")
	w.str("type", "create")
	w.str("scope", "external")
	w.str("message", "creates a Indicator `"+ind.name+"`")
	w.key("origin")
	w.open()
	w.str("socket", "query")
	w.str("user_id", pick(r, userIDs))
	w.close()
	w.key("data")
	g.appendIndicator(&w, r, i, ind)
	w.str("event_id", EventID(i))
	w.close()
	return w.b
}

// indicatorShape is what the pattern generator decided.
type indicatorShape struct {
	name, pattern, patternType, mainType string
}

// Observable mix, in percent, roughly that of public OpenCTI feeds.
var kinds = []struct {
	pct  int
	kind string
}{
	{24, "ipv4"}, {4, "ipv6"}, {18, "domain"}, {3, "hostname"}, {17, "url"}, {5, "email"},
	{15, "file"}, {2, "registry"}, {2, "x509"}, {8, "or"}, {2, "yara"},
}

func (g Generator) indicator(r *rand.Rand, _ int) indicatorShape {
	n := r.IntN(100)
	kind := kinds[len(kinds)-1].kind
	for _, k := range kinds {
		if n < k.pct {
			kind = k.kind
			break
		}
		n -= k.pct
	}
	switch kind {
	case "or":
		parts := make([]string, 2+r.IntN(2))
		for j := range parts {
			if r.IntN(2) == 0 {
				parts[j] = "[ipv4-addr:value = '" + ipv4(r) + "']"
			} else {
				parts[j] = "[domain-name:value = '" + domain(r) + "']"
			}
		}
		p := strings.Join(parts, " OR ")
		return indicatorShape{name: p, pattern: p, patternType: "stix", mainType: "Unknown"}
	case "yara":
		name := "rule_" + hexString(r, 8)
		p := "rule " + name + " {\n  meta:\n    author = \"" + pick(r, authors) + "\"\n  strings:\n    $a = \"" +
			words(r, 3) + "\"\n    $b = { " + spacedHex(r, 12) + " }\n  condition:\n    $a or $b\n}"
		return indicatorShape{name: name, pattern: p, patternType: "yara", mainType: "Unknown"}
	}
	var typ, path, value, main string
	switch kind {
	case "ipv4":
		typ, path, value, main = "ipv4-addr", "value", ipv4(r), "IPv4-Addr"
		if r.IntN(30) == 0 {
			value += "/24"
		}
	case "ipv6":
		typ, path, value, main = "ipv6-addr", "value", ipv6(r), "IPv6-Addr"
	case "domain":
		typ, path, value, main = "domain-name", "value", domain(r), "Domain-Name"
	case "hostname":
		typ, path, value, main = "hostname", "value", pick(r, hostPrefixes)+"."+domain(r), "Hostname"
	case "url":
		typ, path, value, main = "url", "value", urlValue(r), "Url"
	case "email":
		typ, path, value, main = "email-addr", "value", pick(r, mailUsers)+strconv.Itoa(r.IntN(1000))+"@"+domain(r), "Email-Addr"
	case "registry":
		typ, path, value, main = "windows-registry-key", "key", registryKey(r), "Windows-Registry-Key"
	case "x509":
		typ, main = "x509-certificate", "X509-Certificate"
		if r.IntN(2) == 0 {
			path, value = "hashes.'SHA-1'", hexString(r, 40)
		} else {
			path, value = "serial_number", colonHex(r, 16)
		}
	case "file":
		h := []struct{ path, value string }{
			{"hashes.MD5", hexString(r, 32)}, {"hashes.'SHA-1'", hexString(r, 40)}, {"hashes.'SHA-256'", hexString(r, 64)},
		}
		switch r.IntN(4) {
		case 0: // all three hashes of one file
			p := "[file:" + h[0].path + " = '" + h[0].value + "' AND file:" + h[1].path + " = '" + h[1].value +
				"' AND file:" + h[2].path + " = '" + h[2].value + "']"
			return indicatorShape{name: h[2].value, pattern: p, patternType: "stix", mainType: "StixFile"}
		default:
			k := h[r.IntN(3)]
			typ, path, value, main = "file", k.path, k.value, "StixFile"
		}
	}
	p := "[" + typ + ":" + path + " = '" + stixEscape(value) + "']"
	return indicatorShape{name: value, pattern: p, patternType: "stix", mainType: main}
}

func (g Generator) appendIndicator(w *jsonWriter, r *rand.Rand, i int, ind indicatorShape) {
	created := time.UnixMilli(baseMillis - int64(r.IntN(300*24*3600))*1000 - int64(r.IntN(1000))).UTC()
	modified := created.Add(time.Duration(r.IntN(30*24*3600)) * time.Second)
	validFrom := created.Add(-time.Duration(r.IntN(3*24*3600)) * time.Second)
	// Valid until 2030-2034: current when the benchmark runs.
	validUntil := time.Date(2030+r.IntN(5), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, time.UTC)
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z") }

	w.open()
	w.str("id", "indicator--"+uuid(r))
	w.str("spec_version", "2.1")
	w.str("type", "indicator")
	w.key("extensions")
	w.open()
	w.key(octiExtension)
	w.open()
	w.str("extension_type", "property-extension")
	w.str("id", InternalID(g.Seed, i))
	w.str("type", "Indicator")
	w.str("created_at", ts(created))
	w.str("updated_at", ts(modified))
	if n := r.IntN(3); n > 0 {
		w.key("stix_ids")
		w.openArr()
		for range n {
			w.elemStr("indicator--" + uuid(r))
		}
		w.closeArr()
	}
	w.boolean("is_inferred", false)
	w.key("creator_ids")
	w.openArr()
	w.elemStr(pick(r, userIDs))
	w.closeArr()
	w.boolean("detection", r.IntN(3) != 0)
	w.num("score", 20+r.IntN(81))
	w.str("main_observable_type", ind.mainType)
	w.str("workflow_id", uuid(r))
	w.close()
	w.close()
	w.str("created", ts(created))
	w.str("modified", ts(modified))
	w.boolean("revoked", false)
	w.num("confidence", 15+5*r.IntN(18))
	w.str("lang", "en")
	if ls := pickN(r, labels, r.IntN(5)); len(ls) > 0 {
		w.key("labels")
		w.openArr()
		for _, l := range ls {
			w.elemStr(l)
		}
		w.closeArr()
	}
	w.key("object_marking_refs")
	w.openArr()
	w.elemStr(pick(r, tlpMarkings))
	if r.IntN(5) == 0 {
		w.elemStr(papMarking)
	}
	w.closeArr()
	w.str("created_by_ref", pick(r, identities))
	if n := r.IntN(3); n > 0 {
		w.key("external_references")
		w.openArr()
		for range n {
			w.openElem()
			src := pick(r, sources)
			w.str("source_name", src)
			w.str("url", "https://"+strings.ToLower(strings.ReplaceAll(src, " ", ""))+".example/pulse/"+hexString(r, 24))
			if r.IntN(2) == 0 {
				w.str("description", words(r, 4+r.IntN(8)))
			}
			w.close()
		}
		w.closeArr()
	}
	w.str("name", ind.name)
	w.str("description", description(r))
	w.key("indicator_types")
	w.openArr()
	w.elemStr(pick(r, indicatorTypes))
	w.closeArr()
	w.str("pattern", ind.pattern)
	w.str("pattern_type", ind.patternType)
	if ind.patternType == "stix" {
		w.str("pattern_version", "2.1")
	}
	w.str("valid_from", ts(validFrom))
	w.str("valid_until", ts(validUntil))
	if ps := pickN(r, phases, r.IntN(3)); len(ps) > 0 {
		w.key("kill_chain_phases")
		w.openArr()
		for _, ph := range ps {
			w.openElem()
			w.str("kill_chain_name", "mitre-attack")
			w.str("phase_name", ph)
			w.close()
		}
		w.closeArr()
	}
	w.close()
}

// description draws a text whose length is short, medium or long.
func description(r *rand.Rand) string {
	n := r.IntN(100)
	switch {
	case n < 35:
		return words(r, 3+r.IntN(12))
	case n < 80:
		return words(r, 20+r.IntN(45))
	default:
		return words(r, 70+r.IntN(100))
	}
}

var (
	vocabulary = strings.Fields(`the malware campaign infrastructure observed command control server
		phishing payload dropper loader beacon exfiltration credential stealer actor group targeting
		finance healthcare government energy sector victims network traffic associated with domain
		hosting provider resolved address first seen reported by partner analysts confirmed activity
		ransomware operators initial access broker exploit vulnerability remote code execution
		persistence scheduled task registry run key lateral movement mimikatz cobalt strike implant
		spearphishing attachment macro document archive password protected sandbox detonation sample`)
	labels = []string{"malware", "phishing", "c2", "botnet", "ransomware", "apt28", "apt29", "lazarus",
		"emotet", "qakbot", "cobalt-strike", "scanner", "tor-exit-node", "spam", "bruteforce",
		"credential-theft", "exploit", "cryptominer", "infostealer", "redline", "asyncrat", "loader"}
	phases = []string{"reconnaissance", "resource-development", "initial-access", "execution",
		"persistence", "privilege-escalation", "defense-evasion", "credential-access", "discovery",
		"lateral-movement", "collection", "command-and-control", "exfiltration", "impact"}
	tlpMarkings = []string{
		"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", // TLP:WHITE / CLEAR
		"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", // TLP:GREEN
		"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", // TLP:AMBER
		"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", // TLP:RED
	}
	papMarking     = "marking-definition--ad2caa47-58fd-5491-8f67-255377927369"
	indicatorTypes = []string{"malicious-activity", "anomalous-activity", "compromised", "attribution"}
	sources        = []string{"AlienVault", "abuse.ch", "MISP Feed", "CIRCL", "Mandiant", "URLhaus", "ThreatFox", "VirusTotal"}
	authors        = []string{"CERT-EU", "abuse.ch", "Florian Roth", "internal SOC"}
	hostPrefixes   = []string{"mail", "vpn", "cdn", "api", "update", "login", "portal", "files"}
	mailUsers      = []string{"billing", "support", "hr", "invoice", "admin", "noreply", "security"}
	tlds           = []string{"com", "net", "org", "ru", "cn", "info", "xyz", "top", "io", "biz", "co.uk", "de"}
	syllables      = []string{"ka", "lo", "mir", "tech", "net", "sec", "data", "zon", "ex", "pro", "cloud",
		"soft", "ver", "tra", "lin", "box", "hub", "fast", "web", "cor", "dex", "on", "via", "ix"}
	regRoots = []string{`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`,
		`HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\RunOnce`,
		`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services`,
		`HKEY_CURRENT_USER\Software\Classes\CLSID`}
	userIDs    = uuids(8, 1)
	identities = prefixed("identity--", uuids(40, 2))
)

func uuids(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 0xbe7c))
	out := make([]string, n)
	for i := range out {
		out[i] = uuid(r)
	}
	return out
}

func prefixed(p string, s []string) []string {
	for i := range s {
		s[i] = p + s[i]
	}
	return s
}

func uuid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff,
		0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// pickN picks n distinct elements.
func pickN(r *rand.Rand, s []string, n int) []string {
	if n > len(s) {
		n = len(s)
	}
	idx := r.Perm(len(s))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

func words(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pick(r, vocabulary))
	}
	return b.String()
}

func ipv4(r *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(222), r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

func ipv6(r *rand.Rand) string {
	return fmt.Sprintf("2a0%x:%x:%x:%x::%x", r.IntN(16), r.IntN(0x10000), r.IntN(0x10000), r.IntN(0x10000), 1+r.IntN(0xffff))
}

func domain(r *rand.Rand) string {
	var b strings.Builder
	for range 2 + r.IntN(3) {
		b.WriteString(pick(r, syllables))
	}
	if r.IntN(4) == 0 {
		b.WriteString(strconv.Itoa(r.IntN(100)))
	}
	b.WriteByte('.')
	b.WriteString(pick(r, tlds))
	return b.String()
}

func urlValue(r *rand.Rand) string {
	scheme := "http"
	if r.IntN(2) == 0 {
		scheme = "https"
	}
	u := scheme + "://" + domain(r) + "/" + strings.ReplaceAll(words(r, 1+r.IntN(3)), " ", "/")
	if r.IntN(3) == 0 {
		u += ".php?id=" + hexString(r, 8+r.IntN(24))
	}
	return u
}

func registryKey(r *rand.Rand) string {
	return pick(r, regRoots) + `\` + pick(r, syllables) + pick(r, syllables) + "Svc"
}

func hexString(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func spacedHex(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = hexString(r, 2)
	}
	return strings.Join(parts, " ")
}

func colonHex(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = hexString(r, 2)
	}
	return strings.Join(parts, ":")
}

// stixEscape escapes a string constant of a STIX pattern.
func stixEscape(s string) string { return stixEscaper.Replace(s) }

var stixEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// jsonWriter appends compact JSON without reflection.
type jsonWriter struct {
	b     []byte
	comma []bool // per open container: an element was written
}

func (w *jsonWriter) sep() {
	if n := len(w.comma); n > 0 {
		if w.comma[n-1] {
			w.b = append(w.b, ',')
		}
		w.comma[n-1] = true
	}
}

func (w *jsonWriter) open()     { w.b = append(w.b, '{'); w.comma = append(w.comma, false) }
func (w *jsonWriter) openElem() { w.sep(); w.open() }
func (w *jsonWriter) close()    { w.b = append(w.b, '}'); w.comma = w.comma[:len(w.comma)-1] }
func (w *jsonWriter) openArr()  { w.b = append(w.b, '['); w.comma = append(w.comma, false) }
func (w *jsonWriter) closeArr() { w.b = append(w.b, ']'); w.comma = w.comma[:len(w.comma)-1] }

func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *jsonWriter) str(k, v string) { w.key(k); w.b = appendJSONString(w.b, v) }
func (w *jsonWriter) num(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}
func (w *jsonWriter) boolean(k string, v bool) { w.key(k); w.b = strconv.AppendBool(w.b, v) }
func (w *jsonWriter) elemStr(v string)         { w.sep(); w.b = appendJSONString(w.b, v) }

// appendJSONString appends s as a JSON string (no HTML escaping, like
// JSON.stringify).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
