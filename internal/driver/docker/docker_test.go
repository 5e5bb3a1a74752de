package docker_test

import (
	"testing"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/docker"
	"github.com/trainyard/trainyard/internal/driver/drivertest"
	"github.com/trainyard/trainyard/internal/engine/enginetest"
)

// testImage is the image every test task runs in: bash, coreutils and python3 on Debian.
const testImage = "trainyard/base:bookworm-1"

func TestConformance(t *testing.T) {
	c := enginetest.Client(t)
	enginetest.Image(t, testImage)
	drivertest.Run(t, func(*testing.T) driver.Driver {
		return &docker.Driver{Client: c, Name: "drivertest", DefaultImage: testImage}
	})
}
