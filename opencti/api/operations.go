package api

// operation is a named GraphQL document.
type operation struct {
	name  string
	query string
}

// The documents the client sends. Their names are the operation names sent
// with each request, so OpenCTI's logs and the test server's records show
// which one failed.
var (
	opAbout = operation{"OpenctibeatAbout", `query OpenctibeatAbout {
  about { version }
}`}

	opIndicator = operation{"OpenctibeatIndicator", `query OpenctibeatIndicator($id: String!) {
  indicator(id: $id) { id standard_id name pattern revoked }
}`}

	opIndicatorSearch = operation{"OpenctibeatIndicatorSearch", `query OpenctibeatIndicatorSearch($search: String, $first: Int) {
  indicators(search: $search, first: $first) {
    edges { node { id standard_id name pattern revoked } }
  }
}`}

	opSystemAdd = operation{"OpenctibeatSystemAdd", `mutation OpenctibeatSystemAdd($input: SystemAddInput!) {
  systemAdd(input: $input) { id standard_id name }
}`}

	opSecurityPlatformAdd = operation{"OpenctibeatSecurityPlatformAdd", `mutation OpenctibeatSecurityPlatformAdd($input: SecurityPlatformAddInput!) {
  securityPlatformAdd(input: $input) { id standard_id name }
}`}

	opSighting = operation{"OpenctibeatSighting", `query OpenctibeatSighting($id: String) {
  stixSightingRelationship(id: $id) {
    id standard_id x_opencti_stix_ids fromId toId first_seen last_seen attribute_count confidence
  }
}`}

	opSightingAdd = operation{"OpenctibeatSightingAdd", `mutation OpenctibeatSightingAdd($input: StixSightingRelationshipAddInput!) {
  stixSightingRelationshipAdd(input: $input) {
    id standard_id x_opencti_stix_ids fromId toId first_seen last_seen attribute_count confidence
  }
}`}

	opRegisterConnector = operation{"OpenctibeatRegisterConnector", `mutation OpenctibeatRegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id name connector_type connector_scope connector_state connector_state_reset connector_user_id
  }
}`}

	opPingConnector = operation{"OpenctibeatPingConnector", `mutation OpenctibeatPingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
  pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) {
    id name connector_type connector_scope connector_state connector_state_reset connector_user_id
  }
}`}
)

// Operations returns every GraphQL document the client can send, keyed by
// operation name, for validation against a schema.
func Operations() map[string]string {
	out := map[string]string{}
	for _, op := range []operation{
		opAbout, opIndicator, opIndicatorSearch, opSystemAdd, opSecurityPlatformAdd,
		opSighting, opSightingAdd, opRegisterConnector, opPingConnector,
	} {
		out[op.name] = op.query
	}
	return out
}
