// Package mapping defines the document a mode produces for the search
// engine. Modes (stixmode, and ecsmode) map decoded events to documents
// purely: no I/O, no clock except the one injected.
package mapping
