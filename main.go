// openctibeat carries OpenCTI's live stream into Elasticsearch.
package main

import (
	"os"

	"github.com/openctibeat/openctibeat/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
