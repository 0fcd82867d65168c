// Package stixmode writes every STIX object of the stream raw, with its
// extensions, one document per object, keyed by OpenCTI's internal id (the
// STIX id when the object carries none). Creates and updates write the
// whole current object; deletes remove it; merges remove the merged-away
// sources and write the target.
package stixmode
