// Package refusal reads what the search engine says about each write of a
// bulk request and tells apart what it refuses for good: the status and
// error of every item (ParseBulk), whether an item is done, to retry or
// refused (Item.Outcome), what a refusal means and how to fix it (Fix), and
// whether the engine accepts the beat's writes on an index right now
// (Check: a check document indexed and deleted by id, as the beat's
// output writes).
//
// libbeat's Elasticsearch output drops (or sends to its dead letter index)
// every item refused with a 4xx other than 409 and 429, and acknowledges it
// like a written one; a delete of a missing document is such a 404. This
// package gives the beat its own reading of those answers.
package refusal
