package beater

import (
	"context"
	"sync"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
)

// esConn is an eslegclient connection that connects on first use and
// again after a failed request.
type esConn struct {
	conn *eslegclient.Connection

	mu        sync.Mutex
	connected bool
}

func (c *esConn) Request(method, path, pipeline string, params map[string]string, body interface{}) (int, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		if err := c.conn.Connect(context.Background()); err != nil {
			return 0, nil, err
		}
		c.connected = true
	}
	status, resp, err := c.conn.Request(method, path, pipeline, params, body)
	if err != nil {
		c.connected = false
	}
	return status, resp, err
}

// Bulk sends one bulk request (filtered to the items' status and error).
func (c *esConn) Bulk(ctx context.Context, body []any) (int, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		if err := c.conn.Connect(ctx); err != nil {
			return 0, nil, err
		}
		c.connected = true
	}
	status, resp, err := c.conn.Bulk(ctx, "", "", nil, bulkParams, body)
	if err != nil {
		c.connected = false
	}
	return status, resp, err
}

var bulkParams = map[string]string{"filter_path": "errors,items.*.error,items.*.status"}
