// Package pattern parses STIX 2.1 patterns (STIX 2.1 specification,
// section 9 "STIX Patterning") and extracts the observables they name.
//
// # What Parse accepts
//
// Parse is a hand-written recursive-descent parser of the grammar of the
// OASIS reference STIXPattern.g4 (cti-stix2-json-schemas, pattern_grammar):
//
//	pattern          := obsFollowedBy EOF
//	obsFollowedBy    := obsOr ( FOLLOWEDBY obsOr )*          loosest
//	obsOr            := obsAnd ( OR obsAnd )*
//	obsAnd           := obsQualified ( AND obsQualified )*
//	obsQualified     := obsPrimary qualifier*               tightest
//	obsPrimary       := '[' compOr ']' | '(' obsFollowedBy ')'
//	qualifier        := WITHIN (int|float) SECONDS
//	                  | START timestamp STOP timestamp
//	                  | REPEATS int TIMES
//	compOr           := compAnd ( OR compAnd )*
//	compAnd          := compPrimary ( AND compPrimary )*
//	compPrimary      := '(' compOr ')' | [NOT] EXISTS path
//	                  | path [NOT] op constant
//	                  | path [NOT] IN '(' [constant (',' constant)*] ')'
//	                  | path [NOT] (LIKE|MATCHES|ISSUBSET|ISSUPERSET) string
//	path             := type ':' key ( '.' key | '[' (int|'*') ']' )*
//	op               := = | == | != | <> | < | <= | > | >=
//
// EXISTS, which the reference grammar lacks, is accepted as a prefix
// operator (EXISTS type:path). All binary operators are left-associative. Keywords are case-sensitive
// (AND, not and; true and false in lowercase). Whitespace (including the
// Unicode spaces of the reference grammar) and comments (/* */ and // to
// the end of the line) may appear between any two tokens; as in the
// reference lexer, a number may also be followed directly by a word
// (WITHIN 5SECONDS).
//
// Object types are [a-zA-Z_][a-zA-Z0-9_-]* (ipv4-addr, x-custom-type) and
// cannot be keywords. A key is an identifier or a single-quoted string
// (hashes.'SHA-256'); as in STIX 2.0, unquoted keys may also contain
// hyphens (extensions.windows-pebinary-ext), and keywords are accepted as
// keys. List indexes are integers (negative ones included, as in the
// reference grammar) or *.
//
// Constants: strings in single quotes whose only escapes are \' and \\;
// integers ([+-]?(0|[1-9][0-9]*), int64); floats ([+-]?[0-9]*.[0-9]+, no
// exponent); true and false; b'base64' (canonical, padded, non-empty);
// h'hex' (an even number of hex digits); t'YYYY-MM-DDTHH:MM:SS[.frac]Z'
// (RFC 3339 in UTC, checked: month and day ranges, leap years; a leap
// second :60 is accepted and yields the next second; digits beyond
// nanoseconds are dropped). = and != take any constant, < <= > >= any but
// a boolean, LIKE MATCHES ISSUBSET ISSUPERSET a string, IN a list (possibly
// empty, of mixed types).
//
// Qualifiers apply to the observation expression or parenthesised group
// just before them and may follow one another, but at most one of each
// kind per unparenthesised expression (as the OASIS validator checks). The
// operand of WITHIN is a non-negative integer or float, that of REPEATS a
// non-negative integer. START and STOP take timestamp constants t'...'; a
// plain string holding a timestamp, as in STIX 2.0, is accepted too.
//
// Parse does not check the semantics of the STIX object model (whether a
// property exists on a type, whether a hash has the right length, whether
// comparisons joined by AND name a single object type, whether STOP is
// after START) nor the syntax of LIKE and MATCHES operands.
//
// # Errors and robustness
//
// Every error of Parse is a *SyntaxError giving the byte offset of the
// problem and a message saying what was expected. Parse never panics, on
// any input, including invalid UTF-8 (rejected) and deep nesting
// (parentheses beyond MaxNesting levels are rejected, with an error naming
// the limit). Chains of operands (a AND b AND ...) are parsed, expanded and
// written back in loops: only parentheses and changes of precedence
// recurse, so no pattern recurses deeper than about MaxNesting levels
// whatever its length. Pattern.String
// re-serialises a parsed pattern canonically; Parse accepts the result and
// yields an equal Pattern.
//
// # Observables
//
// Pattern.Observables lists the objects whose atomic values the pattern
// names by equality, for mappers that need "the indicator is about IP
// 198.51.100.1". Every observation's comparison expression is expanded to
// disjunctive normal form (IN (a, b) counting as = a OR = b); each AND-term
// yields one Observable per object type, holding that type's positive
// equality comparisons. Negated comparisons and the other operators yield
// nothing. Observations joined by AND, OR or FOLLOWEDBY all contribute;
// qualifiers are ignored; duplicates are returned once, in pattern order.
// The expansion is capped at MaxObservables, past which Observables returns
// the first MaxObservables and ErrTooMany; CountObservables tells how many
// there are, up to a higher limit.
package pattern
