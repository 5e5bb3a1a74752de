// Package enginetest gives tests a Docker engine client, or skips them where there is no engine.
// Where an engine is required (CI or TRAINYARD_REQUIRE_DOCKER set), a missing one fails the
// test instead, so a broken engine cannot pass as a skipped suite. It must only be imported by
// tests.
package enginetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/engine"
)

// Client connects to the engine (engine.Connect) and closes the client when the test ends.
// Without an engine it skips the test, or fails it when the environment variable CI or
// TRAINYARD_REQUIRE_DOCKER is set.
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := engine.Connect(context.Background())
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("TRAINYARD_REQUIRE_DOCKER") != "" {
			t.Fatalf("this test needs a Docker engine: %v", err)
		}
		t.Skipf("this test needs a Docker engine (set TRAINYARD_REQUIRE_DOCKER=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Image fails the test unless the engine has the image ref locally: tests never pull.
func Image(t testing.TB, ref string) {
	t.Helper()
	c := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ImageInspect(ctx, ref); err != nil {
		if engine.IsNotFound(err) {
			t.Fatalf("image %s does not exist locally: run make images (scripts/images.sh) to build it", ref)
		}
		t.Fatalf("inspect image %s: %v; run make images if it is missing", ref, err)
	}
}
