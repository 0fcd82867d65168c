package api

import (
	"context"
	"fmt"
	"time"
)

// ConnectorRegistration is the input of registerConnector.
type ConnectorRegistration struct {
	// ID is the connector's id (a UUID the beat keeps).
	ID   string
	Name string
	// Type is a ConnectorType: "STREAM" for the beat.
	Type  string
	Scope []string
	// Auto and OnlyContextual are sent when set.
	Auto           *bool
	OnlyContextual *bool
}

// Connector is OpenCTI's view of a registered connector.
type Connector struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Type  string   `json:"connector_type"`
	Scope []string `json:"connector_scope"`
	// State is the saved state (a JSON string), nil when none was saved.
	State *string `json:"connector_state"`
	// StateReset is true when an operator reset the state in OpenCTI.
	StateReset bool   `json:"connector_state_reset"`
	UserID     string `json:"connector_user_id"`
}

// ConnectorInfo is the optional connectorInfo of pingConnector.
type ConnectorInfo struct {
	RunAndTerminate   bool
	Buffering         bool
	QueueThreshold    float64
	QueueMessagesSize float64
	NextRun, LastRun  *time.Time
}

// RegisterConnector registers (or re-registers) the connector and returns
// it with its saved state.
func (c *Client) RegisterConnector(ctx context.Context, r ConnectorRegistration) (Connector, error) {
	input := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type}
	if r.Scope != nil {
		input["scope"] = r.Scope
	}
	if r.Auto != nil {
		input["auto"] = *r.Auto
	}
	if r.OnlyContextual != nil {
		input["only_contextual"] = *r.OnlyContextual
	}
	var out struct {
		Connector *Connector `json:"registerConnector"`
	}
	if err := c.exec(ctx, opRegisterConnector, map[string]any{"input": input}, &out, true); err != nil {
		return Connector{}, err
	}
	if out.Connector == nil {
		return Connector{}, fmt.Errorf("opencti graphql %s: %w: no connector returned", opRegisterConnector.name, errDecode)
	}
	return *out.Connector, nil
}

// PingConnector tells OpenCTI the connector is alive and saves state (nil
// leaves the saved state as it is). The returned state differs from the one
// sent when an operator reset it.
func (c *Client) PingConnector(ctx context.Context, id string, state *string, info *ConnectorInfo) (Connector, error) {
	vars := map[string]any{"id": id}
	if state != nil {
		vars["state"] = *state
	}
	if info != nil {
		ci := map[string]any{
			"run_and_terminate":   info.RunAndTerminate,
			"buffering":           info.Buffering,
			"queue_threshold":     info.QueueThreshold,
			"queue_messages_size": info.QueueMessagesSize,
		}
		if info.NextRun != nil {
			ci["next_run_datetime"] = FormatDate(*info.NextRun)
		}
		if info.LastRun != nil {
			ci["last_run_datetime"] = FormatDate(*info.LastRun)
		}
		vars["connectorInfo"] = ci
	}
	var out struct {
		Connector *Connector `json:"pingConnector"`
	}
	if err := c.exec(ctx, opPingConnector, vars, &out, true); err != nil {
		return Connector{}, err
	}
	if out.Connector == nil {
		return Connector{}, fmt.Errorf("opencti graphql %s: %w: no connector returned", opPingConnector.name, errDecode)
	}
	return *out.Connector, nil
}
