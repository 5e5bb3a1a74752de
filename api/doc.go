// Package api is trainyard's public wire contract: the JSON shapes of the /v1 HTTP API, the
// error body, and a Go client. Field names follow the Azure ML REST shapes where SPEC.md gives
// them; specs that users write as YAML (compute, job) keep the v2 YAML key names.
//
// It imports the standard library only, so the CLI, the agent and other programs can use it
// without the server.
package api
