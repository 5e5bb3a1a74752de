package server

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/docker"
	"github.com/trainyard/trainyard/internal/engine"
)

// connectEngine connects to the Docker engine if one answers within a few seconds; nil when
// none does, and the server then runs jobs as processes only.
func connectEngine(ctx context.Context, log *slog.Logger) *client.Client {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := engine.Connect(ctx)
	if err != nil {
		log.Info("no Docker engine: jobs with an environment and docker-provider locations are refused", "err", err)
		return nil
	}
	return c
}

// ContainerDriver is the docker driver of a node's agent, or nil when no engine answers. The
// node's own settings come from the environment its provider gave the agent:
// TRAINYARD_NODE_CONTAINER (job containers join that container's network),
// TRAINYARD_NODE_VCPUS, TRAINYARD_NODE_MEMORY_GIB and TRAINYARD_NODE_GPUS (the limits and
// devices of job containers).
func ContainerDriver(ctx context.Context, nodeID string, log *slog.Logger) driver.Driver {
	c := connectEngine(ctx, log)
	if c == nil {
		return nil
	}
	return nodeDriver(c, nodeID, log)
}

func nodeDriver(c *client.Client, nodeID string, log *slog.Logger) driver.Driver {
	d := &docker.Driver{Client: c, Name: nodeID, Network: "host", Log: log}
	if name := os.Getenv("TRAINYARD_NODE_CONTAINER"); name != "" {
		d.Network = "container:" + name
	}
	if n, err := strconv.Atoi(os.Getenv("TRAINYARD_NODE_VCPUS")); err == nil && n > 0 {
		d.NanoCPUs = int64(n) * 1e9
	}
	if g, err := strconv.ParseFloat(os.Getenv("TRAINYARD_NODE_MEMORY_GIB"), 64); err == nil && g > 0 {
		d.MemoryBytes = int64(g * (1 << 30))
	}
	if n, err := strconv.Atoi(os.Getenv("TRAINYARD_NODE_GPUS")); err == nil && n > 0 {
		d.GPUs = n
	}
	return d
}
