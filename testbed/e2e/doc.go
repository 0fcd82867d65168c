// Package e2e runs the real openctibeat binary against the project's
// OpenCTI test server and a real search engine (through the test harness's
// Elasticsearch-compatibility proxy). Its tests carry the integration build
// tag; see the README's test command.
package e2e
