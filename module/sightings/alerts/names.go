package alerts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Elasticsearch's limits on the names an alert points to (matched.index and
// matched.id): MetadataCreateIndexService.validateIndexOrAliasName and
// IndexRequest.validate.
const (
	maxIndexNameBytes = 255
	maxDocIDBytes     = 512
	// indexNameForbidden: Strings.INVALID_FILENAME_CHARS, '#', and ':' (the
	// remote cluster separator, refused in index names since 7.0; a remote
	// cluster's index cannot be read from here anyway).
	indexNameForbidden = `\/*?"<>|, #:`
)

var (
	errEmptyName  = errors.New("is empty")
	errNotUTF8    = errors.New("is not valid UTF-8")
	errNameTooBig = errors.New("is too long")
)

// ValidateIndexName checks an index name read from an alert against
// Elasticsearch's rules: not empty, lowercase, none of \ / * ? " < > | , #
// : or space, not starting with -, _ or +, not "." or "..", at most 255
// bytes. Only a valid name is used in a request.
func ValidateIndexName(name string) error {
	if err := validateBytes(name, maxIndexNameBytes); err != nil {
		return err
	}
	switch {
	case name != strings.ToLower(name):
		return errors.New("is not lowercase")
	case strings.ContainsAny(name, indexNameForbidden):
		i := strings.IndexAny(name, indexNameForbidden)
		return fmt.Errorf("holds %q (none of %s or space is allowed)", name[i], strings.ReplaceAll(indexNameForbidden, " ", ""))
	case strings.ContainsAny(name[:1], "-_+"):
		return fmt.Errorf("starts with %q", name[0])
	case name == "." || name == "..":
		return fmt.Errorf("is %q", name)
	}
	return nil
}

// ValidateDocID checks a document id read from an alert against
// Elasticsearch's rules: not empty, at most 512 bytes.
func ValidateDocID(id string) error {
	return validateBytes(id, maxDocIDBytes)
}

// validateBytes checks what index names and document ids share: not
// empty, valid UTF-8, at most max bytes.
func validateBytes(s string, max int) error {
	switch {
	case s == "":
		return errEmptyName
	case !utf8.ValidString(s):
		return errNotUTF8
	case len(s) > max:
		return fmt.Errorf("%w: %d bytes, at most %d", errNameTooBig, len(s), max)
	}
	return nil
}
