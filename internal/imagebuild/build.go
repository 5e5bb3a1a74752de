// Package imagebuild makes the images of environments on the Docker engine, once per content
// hash: from a build context and Dockerfile, or as a conda layer on top of an image. It never
// pulls: every base image must be on the engine already, and a missing one is named before
// anything is built.
package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/engine"
)

// Builder builds and finds images on one engine.
type Builder struct {
	Client *client.Client
	// Snapshot returns the path of an uploaded snapshot (a tar.gz) by its content hash.
	Snapshot func(hash string) string
}

// Exists reports whether the engine has the image ref.
func (b *Builder) Exists(ctx context.Context, ref string) (bool, error) {
	_, err := b.Client.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case engine.IsNotFound(err):
		return false, nil
	case client.IsErrConnectionFailed(err):
		return false, engine.Unreachable(err)
	}
	return false, err
}

// Build makes e.RunImage(), writing the build's output to out. A failure is an error whose
// text says what failed, for the job's error message; the details are in out.
func (b *Builder) Build(ctx context.Context, e trainyard.Environment, out io.Writer) error {
	buildCtx, df, err := b.context(e)
	if err != nil {
		return err
	}
	if c, ok := buildCtx.(io.Closer); ok {
		defer c.Close()
	}
	for _, base := range BaseImages(df) {
		ok, err := b.Exists(ctx, base)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("the Dockerfile starts FROM %s, which is not on this server's Docker engine, and trainyard never pulls from a registry: build or load that image first (make images builds trainyard/base:bookworm-1)", base)
		}
	}
	fmt.Fprintf(out, "Building image %s for environment %s (content hash %s)\n", e.RunImage(), e.Ref(), e.Hash()[:12])
	res, err := b.Client.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{e.RunImage()},
		Dockerfile:  dockerfile(e),
		Remove:      true,
		ForceRemove: true,
		NetworkMode: "host", // the engine has no bridge; RUN steps reach what the host reaches
		Labels:      map[string]string{"trainyard.environment": e.Ref(), "trainyard.hash": e.Hash()},
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	return copyBuildOutput(res.Body, out)
}

// copyBuildOutput writes the engine's build messages as plain text and returns the build's
// error, if it reported one.
func copyBuildOutput(r io.Reader, out io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the build's output: %w", err)
		}
		if m.Error != nil {
			fmt.Fprintf(out, "ERROR: %s\n", m.Error.Message)
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
		if m.Stream != "" {
			io.WriteString(out, m.Stream)
		} else if m.Status != "" {
			fmt.Fprintln(out, m.Status)
		}
	}
}

// context returns the build context for e and its Dockerfile's text.
func (b *Builder) context(e trainyard.Environment) (io.Reader, []byte, error) {
	if e.Context == "" {
		df := condaDockerfile(e.Image)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range []struct{ name, body string }{{"Dockerfile", df}, {"conda.yml", e.CondaFile}, {"conda.sh", condaScript(e.Image)}} {
			tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))})
			io.WriteString(tw, f.body)
		}
		tw.Close()
		return &buf, []byte(df), nil
	}
	p := b.Snapshot(e.Context)
	df, err := fileInTarGz(p, dockerfile(e))
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("build context %s: %w", e.Context[:12], err)
	}
	// The engine takes a gzipped context as it is.
	return f, df, nil
}

// dockerfile is the Dockerfile's path in e's build context.
func dockerfile(e trainyard.Environment) string {
	if e.Dockerfile == "" {
		return "Dockerfile"
	}
	return e.Dockerfile
}

// condaDockerfile puts a conda file on image. Its one step runs a script, so that a failure
// quotes a short command rather than the whole script.
func condaDockerfile(image string) string {
	return fmt.Sprintf("FROM %s\nCOPY conda.yml conda.sh /trainyard/\nRUN sh /trainyard/conda.sh\n", image)
}

func condaScript(image string) string {
	return fmt.Sprintf(`if ! command -v conda >/dev/null 2>&1; then
	echo "conda_file needs conda in the image, and %s has none: use an image with conda, or install the packages in a Dockerfile (build:)" >&2
	exit 1
fi
exec conda env update -n base -f /trainyard/conda.yml
`, image)
}

// fileInTarGz returns the content of one file of a tar.gz.
func fileInTarGz(archive, name string) ([]byte, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	tr := tar.NewReader(zr)
	want := path.Clean(name)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("build.dockerfile_path: %s is not in the build context", name)
		}
		if err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) == want {
			return io.ReadAll(io.LimitReader(tr, 1<<20))
		}
	}
}

// BaseImages lists the images a Dockerfile builds FROM, leaving out scratch and earlier stages.
func BaseImages(dockerfile []byte) []string {
	var out []string
	stages := map[string]bool{}
	args := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				args[k] = strings.Trim(v, `"`)
			}
		case "FROM":
			rest := f[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				continue
			}
			img := os.Expand(rest[0], func(k string) string { return args[k] })
			if img != "scratch" && !stages[strings.ToLower(img)] {
				out = append(out, img)
			}
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		}
	}
	return out
}
