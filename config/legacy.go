package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	conf "github.com/elastic/elastic-agent-libs/config"
	ucfg "github.com/elastic/go-ucfg"

	"github.com/openctibeat/openctibeat/internal/deepcopy"
)

// EnvJSONConfig is the environment variable that holds the old connector's
// whole configuration as JSON, in the old layout (opencti, connector,
// elastic, output, cloud, setup sections).
const EnvJSONConfig = "CONNECTOR_JSON_CONFIG"

// layer is where an old value comes from, in increasing precedence.
type layer int

const (
	layerFile layer = iota // the old keys of the configuration file
	layerEnv               // environment variables
	layerJSON              // CONNECTOR_JSON_CONFIG
)

func (l layer) String() string {
	switch l {
	case layerEnv:
		return "environment"
	case layerJSON:
		return EnvJSONConfig
	}
	return "configuration file"
}

var (
	// pathOpts build and edit configurations without resolving anything.
	pathOpts = []ucfg.Option{ucfg.PathSep(".")}
	// readOpts read a value, resolving ${VAR} from the environment.
	readOpts = []ucfg.Option{ucfg.PathSep("."), ucfg.ResolveEnv, ucfg.VarExp}
)

// TranslateLegacy rewrites c, the loaded configuration, in place so that
// the old Python connector's configuration works: the old keys of the file
// (opencti.*, connector.*, elastic.*, elastic_import_from_date,
// output.elasticsearch.ssl_verify, ...), the old environment variables
// (read with getenv) and CONNECTOR_JSON_CONFIG are translated into the
// beat's keys (openctibeat.*, output.elasticsearch.*, cloud.*,
// logging.level), and the old keys removed.
//
// Precedence, lowest first: the beat's defaults; the file's old keys; the
// file's own keys (openctibeat.*, logging.level, output.elasticsearch.ssl.*,
// ...); environment variables; CONNECTOR_JSON_CONFIG. Among old keys the
// old connector's rule holds (defaults < YAML < environment < JSON, key by
// key). libbeat's -E flags are applied after and win over everything. An
// empty environment variable counts as unset, as in the old connector.
//
// On error c is left as it was. Errors name the key or variable, the
// value's problem and the fix, and never hold a secret.
func TranslateLegacy(c *conf.C, getenv func(string) string) error {
	_, err := translateLegacy(c, getenv)
	return err
}

// chosen is the old value that sets one beat key.
type chosen struct {
	assign
	layer layer
	from  string       // the old key or variable, as the user wrote it
	raw   *ucfg.Config // for raw rules from a file or JSON: {leaf: value}
}

func translateLegacy(c *conf.C, getenv func(string) string) (LegacyReport, error) {
	var rep LegacyReport
	if c == nil {
		return rep, nil
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	root := (*ucfg.Config)(c)
	jsonMap, jsonCfg, err := parseJSONConfig(getenv(EnvJSONConfig))
	if err != nil {
		return rep, err
	}
	fileLegacy := hasAny(root, legacySections)

	final, errs := chooseValues(root, jsonCfg, getenv, &rep)
	rep.ignoreUnknown(root, layerFile)
	if jsonCfg != nil {
		rep.ignoreUnknown(jsonCfg, layerJSON)
	}
	leftovers := jsonLeftovers(jsonMap)
	errs = append(errs, outputConflicts(root, final, leftovers)...)
	if len(errs) > 0 {
		return rep, errors.Join(errs...)
	}

	// The file's own keys win over the file's old keys.
	for target, ch := range final {
		if ch.layer == layerFile && has(root, target) {
			rep.Translated = append(rep.Translated, fmt.Sprintf("%s (%s) not applied: the file sets %s itself", ch.from, ch.layer, target))
			delete(final, target)
		}
	}

	var applyErrs []error
	if fileLegacy {
		for _, k := range oldSetupKeys {
			if has(root, k.key) {
				rep.ignore(k.key+" ("+layerFile.String()+")", k.why)
				applyErrs = append(applyErrs, remove(root, k.key))
			}
		}
	}
	if jsonCfg != nil {
		for _, k := range oldSetupKeys {
			if has(jsonCfg, k.key) {
				rep.ignore(EnvJSONConfig+" "+k.key, k.why)
			}
		}
	}
	for _, k := range legacySections {
		applyErrs = append(applyErrs, remove(root, k))
	}
	if fileLegacy || (jsonCfg != nil && has(jsonCfg, "setup.ilm")) {
		applyErrs = append(applyErrs, setValue(root, "setup.ilm.enabled", false))
	}
	applyErrs = append(applyErrs, applyChosen(root, final, &rep)...)
	if len(leftovers) > 0 {
		applyErrs = append(applyErrs, mergeLeftovers(root, leftovers, &rep))
	}
	applyErrs = append(applyErrs, defaultOutput(root, fileLegacy || jsonCfg != nil, &rep))
	sort.Strings(rep.Translated)
	sort.Strings(rep.Ignored)
	return rep, errors.Join(applyErrs...)
}

// chooseValues picks, for each rule, the old value of the highest layer,
// converts it, and keeps for each beat key the assignment of the highest
// layer (the later rule within a layer).
func chooseValues(root, jsonCfg *ucfg.Config, getenv func(string) string, rep *LegacyReport) (map[string]chosen, []error) {
	final := map[string]chosen{}
	var errs []error
	for i := range rules {
		r := &rules[i]
		in, raw, ok, err := pick(r, root, jsonCfg, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if r.conv == nil {
			rep.ignore(describe(in), r.why)
			continue
		}
		var assigns []assign
		if r.raw != "" && raw != nil && in.v == nil {
			// Unreadable now (a keystore reference): moved as it is and
			// checked when the beat unpacks it.
			assigns = []assign{{target: r.raw}}
		} else {
			assigns, err = r.conv(in)
		}
		var d dropped
		if errors.As(err, &d) {
			rep.ignore(describe(in), string(d))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range assigns {
			ch := chosen{assign: a, layer: in.layer, from: in.name}
			if r.raw != "" && a.target == r.raw {
				ch.raw = raw
			}
			if prev, ok := final[a.target]; ok && prev.layer > ch.layer {
				continue
			}
			final[a.target] = ch
		}
	}
	return final, errs
}

// pick returns the rule's old value from the highest layer that has it.
func pick(r *rule, root, jsonCfg *ucfg.Config, getenv func(string) string) (in input, raw *ucfg.Config, ok bool, err error) {
	fromTree := func(cfg *ucfg.Config, l layer, name string) (input, *ucfg.Config, bool, error) {
		v, rerr := readValue(cfg, r.key)
		if r.raw != "" {
			raw, err := rawLeaf(cfg, r.key)
			if err != nil {
				return input{}, nil, false, fmt.Errorf("%s: %w", name, err)
			}
			if rerr != nil {
				v = nil
			}
			return input{v: v, name: name, layer: l}, raw, true, nil
		}
		if rerr != nil {
			return input{}, nil, false, fmt.Errorf("%s cannot be read: %w", name, rerr)
		}
		return input{v: v, name: name, layer: l}, nil, true, nil
	}
	if jsonCfg != nil && has(jsonCfg, r.key) {
		return fromTree(jsonCfg, layerJSON, EnvJSONConfig+" "+r.key)
	}
	if r.env != "" {
		if v := getenv(r.env); v != "" {
			return input{v: v, name: r.env, layer: layerEnv}, nil, true, nil
		}
	}
	if !r.native && has(root, r.key) {
		return fromTree(root, layerFile, r.key)
	}
	return input{}, nil, false, nil
}

// describe names an old value for the report.
func describe(in input) string {
	if in.layer == layerFile {
		return in.name + " (" + layerFile.String() + ")"
	}
	return in.name
}

// applyChosen sets the chosen beat keys, in key order.
func applyChosen(root *ucfg.Config, final map[string]chosen, rep *LegacyReport) []error {
	targets := make([]string, 0, len(final))
	for t := range final {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	var errs []error
	for _, t := range targets {
		ch := final[t]
		if err := remove(root, t); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case ch.raw != nil:
			parent := t[:strings.LastIndex(t, ".")]
			dst := ucfg.New()
			if err := dst.SetChild(parent, -1, ch.raw, pathOpts...); err != nil {
				errs = append(errs, fmt.Errorf("moving %s to %s: %w", ch.from, t, err))
				continue
			}
			errs = append(errs, root.Merge(dst, pathOpts...))
		case ch.del:
		default:
			errs = append(errs, setValue(root, t, ch.value))
		}
		rep.Translated = append(rep.Translated, fmt.Sprintf("%s -> %s", describe(input{name: ch.from, layer: ch.layer}), t))
	}
	return errs
}

// setValue sets one key to a literal value (strings are not parsed for
// ${...}: they are values, not references).
func setValue(root *ucfg.Config, key string, v any) error {
	if err := remove(root, key); err != nil {
		return err
	}
	lit, err := ucfg.NewFrom(map[string]any{key: v}, pathOpts...)
	if err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	if err := root.Merge(lit, pathOpts...); err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	return nil
}

func remove(cfg *ucfg.Config, key string) error {
	if !has(cfg, key) {
		return nil
	}
	if _, err := cfg.Remove(key, -1, pathOpts...); err != nil {
		return fmt.Errorf("removing %s: %w", key, err)
	}
	return nil
}

func has(cfg *ucfg.Config, key string) bool {
	ok, err := cfg.Has(key, -1, pathOpts...)
	return err == nil && ok
}

func hasAny(cfg *ucfg.Config, keys []string) bool {
	for _, k := range keys {
		if has(cfg, k) {
			return true
		}
	}
	return false
}

// readValue reads one value (resolving ${VAR}) without touching the rest
// of the configuration: only this key is unpacked.
func readValue(cfg *ucfg.Config, key string) (any, error) {
	typ := reflect.StructOf([]reflect.StructField{{
		Name: "V",
		Type: reflect.TypeOf((*any)(nil)).Elem(),
		Tag:  reflect.StructTag(`config:"` + key + `"`),
	}})
	v := reflect.New(typ)
	if err := cfg.Unpack(v.Interface(), readOpts...); err != nil {
		return nil, err
	}
	return v.Elem().Field(0).Interface(), nil
}

// rawLeaf copies key's value, unresolved, into a configuration holding
// only {leaf: value}.
func rawLeaf(cfg *ucfg.Config, key string) (*ucfg.Config, error) {
	i := strings.LastIndex(key, ".")
	parent, err := cfg.Child(key[:i], -1, pathOpts...)
	if err != nil {
		return nil, err
	}
	cp := ucfg.New()
	if err := cp.Merge(parent, pathOpts...); err != nil {
		return nil, err
	}
	for _, f := range cp.GetFields() {
		if f != key[i+1:] {
			if _, err := cp.Remove(f, -1, pathOpts...); err != nil {
				return nil, err
			}
		}
	}
	return cp, nil
}

// activeOutput is the name of the file's enabled output ("" when none).
func activeOutput(root *ucfg.Config) string {
	out, err := root.Child("output", -1, pathOpts...)
	if err != nil {
		return ""
	}
	for _, name := range out.GetFields() {
		if name == "include_labels" {
			continue
		}
		sub, err := out.Child(name, -1, pathOpts...)
		if err == nil && (*conf.C)(sub).Enabled() {
			return name
		}
	}
	return ""
}

// outputConflicts refuses Elasticsearch settings from the environment or
// CONNECTOR_JSON_CONFIG when the file configures another output: libbeat
// takes one output, and the file's choice is explicit.
func outputConflicts(root *ucfg.Config, final map[string]chosen, leftovers map[string]any) []error {
	active := activeOutput(root)
	if active == "" || active == "elasticsearch" {
		return nil
	}
	var froms []string
	for t, ch := range final {
		if ch.layer != layerFile && strings.HasPrefix(t, "output.elasticsearch.") {
			froms = append(froms, ch.from)
		}
	}
	if out, ok := leftovers["output"].(map[string]any); ok && out["elasticsearch"] != nil {
		froms = append(froms, EnvJSONConfig+" output.elasticsearch")
	}
	sort.Strings(froms)
	var errs []error
	for _, f := range froms {
		errs = append(errs, fmt.Errorf("%s sets output.elasticsearch but the configuration file's output is output.%s: unset %s, or configure output.elasticsearch instead of output.%s", f, active, f, active))
	}
	return errs
}

// defaultOutput gives output.elasticsearch the old connector's default
// hosts, localhost:9200, when it has none (libbeat refuses an
// Elasticsearch output without hosts), and gives an old configuration
// without any output that output (libbeat refuses to start without one).
// cloud.id sets the hosts itself.
func defaultOutput(root *ucfg.Config, old bool, rep *LegacyReport) error {
	if has(root, "cloud.id") || has(root, "output.elasticsearch.hosts") {
		return nil
	}
	switch activeOutput(root) {
	case "elasticsearch":
	case "":
		if !old {
			return nil
		}
	default:
		return nil
	}
	rep.Translated = append(rep.Translated, "old default -> output.elasticsearch.hosts: [localhost:9200]")
	return setValue(root, "output.elasticsearch.hosts", []any{"localhost:9200"})
}

// parseJSONConfig parses CONNECTOR_JSON_CONFIG into a nested map (dotted
// keys expanded, nulls dropped, numbers as int64 or float64) and a
// configuration of it.
func parseJSONConfig(s string) (map[string]any, *ucfg.Config, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil, nil
	}
	const fix = `: give the old connector's config.yml as one JSON object, e.g. {"opencti": {"url": "https://opencti.example.com"}}`
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		// The decoder's message can quote the input; the offset is enough.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, nil, fmt.Errorf("%s is not valid JSON (syntax error at byte %d)%s", EnvJSONConfig, se.Offset, fix)
		}
		return nil, nil, fmt.Errorf("%s is not valid JSON (it ends early)%s", EnvJSONConfig, fix)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%s is not valid JSON (data after the object)%s", EnvJSONConfig, fix)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%s is %s, not a JSON object%s", EnvJSONConfig, kindOf(normalizeJSON(v)), fix)
	}
	m, _ = normalizeJSON(m).(map[string]any)
	cfg, err := ucfg.NewFrom(m, pathOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s cannot be read as a configuration: %w", EnvJSONConfig, err)
	}
	return m, cfg, nil
}

// normalizeJSON converts numbers, drops nulls (the old connector ignored
// them) and expands dotted keys.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if e != nil {
				out = append(out, normalizeJSON(e))
			}
		}
		return out
	case map[string]any:
		out := map[string]any{}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic when "a.b" and "a" both exist
		for _, k := range keys {
			if x[k] == nil {
				continue
			}
			insert(out, strings.Split(k, "."), normalizeJSON(x[k]))
		}
		return out
	}
	return v
}

// insert sets path in m, merging objects.
func insert(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if old, ok := m[last].(map[string]any); ok {
		if nv, ok := v.(map[string]any); ok {
			for k, x := range nv {
				insert(old, []string{k}, x)
			}
			return
		}
	}
	m[last] = v
}

// jsonLeftovers is CONNECTOR_JSON_CONFIG without the old keys the rules
// translate or drop: libbeat's own keys (output.elasticsearch.ssl.*,
// setup.template.enabled, ...), merged as they are.
func jsonLeftovers(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := deepcopy.Object(m)
	for _, r := range rules {
		deletePath(out, r.key)
	}
	for _, k := range legacySections {
		deletePath(out, k)
	}
	for _, k := range oldSetupKeys {
		deletePath(out, k.key)
	}
	prune(out)
	return out
}

func deletePath(m map[string]any, key string) {
	path := strings.Split(key, ".")
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

// prune removes empty objects (an empty output.elasticsearch would count
// as a second output).
func prune(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			prune(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}

func mergeLeftovers(root *ucfg.Config, leftovers map[string]any, rep *LegacyReport) error {
	cfg, err := ucfg.NewFrom(leftovers, pathOpts...)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvJSONConfig, err)
	}
	if err := root.Merge(cfg, ucfg.PathSep("."), ucfg.ReplaceArrValues); err != nil {
		return fmt.Errorf("%s: %w", EnvJSONConfig, err)
	}
	keys := cfg.FlattenedKeys(pathOpts...)
	rep.Translated = append(rep.Translated, fmt.Sprintf("%s -> merged as they are: %s", EnvJSONConfig, strings.Join(keys, ", ")))
	return nil
}
