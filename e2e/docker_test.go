package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// baseImage is the image `make images` builds; the docker scripts' nodes and jobs use it.
const baseImage = "trainyard/base:bookworm-1"

// dockerReady is the [docker] condition: a Docker engine answers and has the base image. In
// CI, and wherever make test asks for it (TRAINYARD_REQUIRE_DOCKER), a missing engine is an
// error, which fails the script, never a skip.
func dockerReady() (bool, error) {
	err := exec.Command("docker", "image", "inspect", baseImage).Run()
	if err == nil {
		return true, nil
	}
	if os.Getenv("CI") != "" || os.Getenv("TRAINYARD_REQUIRE_DOCKER") != "" {
		return false, fmt.Errorf("no Docker engine with image %s (%v): run scripts/dockerd.sh and make images", baseImage, err)
	}
	return false, nil
}

// installed reports whether program is on PATH (or, given as a path, there). In CI, and in
// make test, a missing one is an error: the test it guards must fail, never skip.
func installed(program string) (bool, error) {
	_, err := exec.LookPath(program)
	if err == nil {
		return true, nil
	}
	if os.Getenv("CI") != "" || os.Getenv("TRAINYARD_REQUIRE_DOCKER") != "" {
		return false, fmt.Errorf("%s is not installed (%v): scripts/deps.sh installs it, as make test does", program, err)
	}
	return false, nil
}

// removeContainers force-removes every container that mounts a folder under dir: the node
// containers and job containers a script's server started.
func removeContainers(dir string) {
	out, err := exec.Command("docker", "ps", "-aq").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return
	}
	args := append([]string{"inspect", "-f", "{{.Id}}{{range .Mounts}} {{.Source}}{{end}}"}, strings.Fields(string(out))...)
	out, _ = exec.Command("docker", args...).Output()
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for _, src := range f[min(1, len(f)):] {
			if src == dir || strings.HasPrefix(src, dir+"/") {
				ids = append(ids, f[0])
				break
			}
		}
	}
	if len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}
