// Package engine connects to the Docker engine. It negotiates the API version, since Debian's
// engine speaks an older API than the newest client, and turns "no engine" into a message that
// says what to do. Drivers, providers and the image builder share it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Connect returns a client for the engine DOCKER_HOST names (default the local socket), after
// checking that the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, Unreachable(err)
	}
	return c, nil
}

// Unreachable explains an engine that does not answer.
func Unreachable(err error) error {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	return fmt.Errorf("no Docker engine answers at %s (%v): start dockerd (scripts/dockerd.sh starts one for the tests) or set DOCKER_HOST", host, trim(err))
}

// IsNotFound reports whether err says an image, container or network does not exist.
func IsNotFound(err error) bool { return errdefs.IsNotFound(err) }

// IsConflict reports whether err says the object exists already or is in use.
func IsConflict(err error) bool { return errdefs.IsConflict(err) }

func trim(err error) string {
	var s string
	for e := err; e != nil; e = errors.Unwrap(e) {
		s = e.Error()
	}
	return strings.TrimSpace(s)
}
