package api

import (
	"os"
	"path/filepath"
)

// Files a server writes in its data dir, which clients on the same machine read to find it.
const (
	AdminTokenFile = "admin.token" // the admin bearer token, mode 0600
	ServerInfoFile = "server.json" // a ServerInfo
)

// ServerInfo says where a local server listens.
type ServerInfo struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// DefaultDataDir is a server's data dir when none is given: $TRAINYARD_DATA_DIR, else
// ~/.trainyard. Server and CLI read the same variable, so they find each other.
func DefaultDataDir() string {
	if d := os.Getenv("TRAINYARD_DATA_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".trainyard")
}
