// Package stix holds the STIX 2.1 object as the beat sees it: the decoded
// object itself plus the few properties every stage needs, read once.
package stix
