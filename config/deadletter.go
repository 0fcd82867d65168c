package config

import (
	"fmt"
	"path"

	conf "github.com/elastic/elastic-agent-libs/config"
)

// DefaultDeadLetterIndex is the dead letter index the beat gives
// output.elasticsearch when its configuration sets no
// non_indexable_policy: documents the engine refuses for good are kept
// there, with the engine's reason, instead of being dropped.
const DefaultDeadLetterIndex = "openctibeat-refused"

const (
	outputES      = "output.elasticsearch"
	policyKey     = outputES + ".non_indexable_policy"
	deadLetterKey = policyKey + ".dead_letter_index.index"
)

// DeadLetterDefault is the libbeat configuration override that turns
// output.elasticsearch's dead letter index on by default. Its Check is
// true when the loaded configuration file (after the old connector's
// translation) configures output.elasticsearch without a
// non_indexable_policy; the override then sits below the file and the -E
// flags, like a default. To drop refused documents instead, set
// non_indexable_policy.drop: ~ in the file.
func DeadLetterDefault() (check func(*conf.C) bool, override *conf.C) {
	check = func(c *conf.C) bool {
		return c != nil && c.HasField("output") && hasPath(c, outputES) && !hasPath(c, policyKey)
	}
	override = conf.MustNewConfigFrom(map[string]any{
		"output": map[string]any{"elasticsearch": map[string]any{"non_indexable_policy": map[string]any{
			"dead_letter_index": map[string]any{"index": DefaultDeadLetterIndex},
		}}},
	})
	return check, override
}

func hasPath(c *conf.C, key string) bool {
	_, err := c.Child(key, -1)
	return err == nil
}

// DeadLetterIndex returns the dead letter index that output (the settings
// of output.elasticsearch) configures, "" when none (refused documents are
// dropped).
func DeadLetterIndex(output *conf.C) (string, error) {
	if output == nil || !hasPath(output, "non_indexable_policy") {
		return "", nil
	}
	var ns conf.Namespace
	policy, err := output.Child("non_indexable_policy", -1)
	if err != nil {
		return "", err
	}
	if err := policy.Unpack(&ns); err != nil {
		return "", fmt.Errorf("output.elasticsearch.non_indexable_policy: %w", err)
	}
	if ns.Name() != "dead_letter_index" {
		return "", nil
	}
	var dl struct {
		Index string `config:"index"`
	}
	if err := ns.Config().Unpack(&dl); err != nil {
		return "", fmt.Errorf("output.elasticsearch.non_indexable_policy.dead_letter_index: %w", err)
	}
	return dl.Index, nil
}

// rootDeadLetterIndex is DeadLetterIndex of the whole configuration's
// output.elasticsearch.
func rootDeadLetterIndex(root *conf.C) (string, error) {
	if root == nil || !hasPath(root, outputES) {
		return "", nil
	}
	out, err := root.Child(outputES, -1)
	if err != nil {
		return "", err
	}
	return DeadLetterIndex(out)
}

// checkDeadLetter refuses a dead letter index that is, or would share the
// template of, the index the beat writes.
func checkDeadLetter(dl, index, pattern string) error {
	if dl == "" {
		return nil
	}
	if ok, _ := path.Match(pattern, dl); dl == index || ok {
		return fmt.Errorf("output.elasticsearch.non_indexable_policy.dead_letter_index.index %q is the beat's own index or matches its template (%s): use another name, e.g. %q", dl, pattern, DefaultDeadLetterIndex)
	}
	return nil
}
