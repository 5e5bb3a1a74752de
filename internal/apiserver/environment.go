package apiserver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/dockerargs"
	"sigs.k8s.io/yaml"
)

// Images answers whether the Docker engine the jobs run on has an image. Nil means the
// server has no engine: environments and container jobs are then refused, saying so.
type Images interface {
	Exists(ctx context.Context, ref string) (bool, error)
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(ctx, ws); err != nil {
		return err
	}
	var spec api.EnvironmentSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	e, err := environmentFromSpec(ws, spec, "")
	if err != nil {
		return err
	}
	if err := s.checkContext(e, ""); err != nil {
		return err
	}
	if err := s.checkEnvironment(ctx, e, ""); err != nil {
		return err
	}
	e, err = s.Store.CreateEnvironment(ctx, e)
	if err != nil {
		return err
	}
	s.Log.Info("environment created", "workspace", ws, "environment", e.Ref(), "image", e.RunImage())
	writeJSON(w, http.StatusCreated, s.environmentOut(ctx, e))
	return nil
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	envs, err := s.Store.Environments(r.Context(), ws, r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	out := make([]api.Environment, 0, len(envs))
	for _, e := range envs {
		out = append(out, s.environmentOut(r.Context(), e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// showEnvironment answers /environments/{name}/versions/{version}; version "latest" is the
// newest.
func (s *Server) showEnvironment(w http.ResponseWriter, r *http.Request) error {
	version := r.PathValue("version")
	if version == "latest" {
		version = ""
	}
	e, err := s.Store.Environment(r.Context(), r.PathValue("ws"), r.PathValue("name"), version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.environmentOut(r.Context(), e))
	return nil
}

func (s *Server) environmentOut(ctx context.Context, e trainyard.Environment) api.Environment {
	out := api.Environment{Name: e.Name, Version: e.Version, Workspace: e.Workspace, Description: e.Description, Tags: e.Tags,
		Image: e.Image, CondaFile: e.CondaFile, Hash: e.Hash(), RunImage: e.RunImage(), Created: e.CreatedAt}
	if e.Context != "" {
		out.Build = &api.BuildContext{Path: e.Context, DockerfilePath: e.Dockerfile}
	}
	if s.Images != nil {
		if ok, err := s.Images.Exists(ctx, e.RunImage()); err == nil {
			out.Built = &ok
		}
	}
	return out
}

// environmentFromSpec validates an environment spec; field prefixes the key names in errors
// ("environment." inside a job).
func environmentFromSpec(ws string, spec api.EnvironmentSpec, field string) (trainyard.Environment, error) {
	e := trainyard.Environment{Workspace: ws, Name: spec.Name, Version: spec.Version, Description: spec.Description,
		Tags: spec.Tags, Image: strings.TrimSpace(spec.Image)}
	if err := trainyard.CheckEnvironmentName(e.Name); err != nil {
		if e.Name == "" {
			return e, trainyard.Errorf(trainyard.Invalid, "%sname is required", field)
		}
		return e, err
	}
	if e.Version != "" {
		if err := trainyard.CheckEnvironmentVersion(e.Version); err != nil {
			return e, err
		}
	}
	if spec.InferenceConfig != nil {
		return e, trainyard.Errorf(trainyard.Invalid, "%sinference_config: inference environments are not supported; remove the key", field)
	}
	if spec.OSType != "" && !strings.EqualFold(spec.OSType, "linux") {
		return e, trainyard.Errorf(trainyard.Invalid, "%sos_type %q: only linux images run here", field, spec.OSType)
	}
	if b := spec.Build; b != nil {
		if e.Image != "" {
			return e, trainyard.Errorf(trainyard.Invalid, "%simage and %sbuild are both set: give one, an image to run as it is or a build context with a Dockerfile", field, field)
		}
		if !snapshotRE.MatchString(b.Path) {
			return e, trainyard.Errorf(trainyard.Invalid, "%sbuild.path %q: the API takes the ID of an uploaded build context; the CLI uploads the folder for you", field, b.Path)
		}
		e.Context, e.Dockerfile = b.Path, path.Clean(strings.TrimPrefix(b.DockerfilePath, "./"))
		if b.DockerfilePath == "" {
			e.Dockerfile = "Dockerfile"
		}
		if path.IsAbs(e.Dockerfile) || strings.HasPrefix(e.Dockerfile, "../") {
			return e, trainyard.Errorf(trainyard.Invalid, "%sbuild.dockerfile_path %q: give a path inside the build context, like Dockerfile or docker/train.Dockerfile", field, b.DockerfilePath)
		}
	} else if e.Image == "" && spec.CondaFile != nil {
		return e, trainyard.Errorf(trainyard.Invalid, "%sconda_file goes on top of an image: give %simage, an image with conda, as well", field, field)
	} else if e.Image == "" {
		return e, trainyard.Errorf(trainyard.Invalid, "%simage or %sbuild is required: the image to run, or a folder with a Dockerfile", field, field)
	}
	if spec.CondaFile != nil {
		if e.Context != "" {
			return e, trainyard.Errorf(trainyard.Invalid, "%sconda_file goes with image, not with build: install the packages in the Dockerfile instead", field)
		}
		text, ok := spec.CondaFile.(string)
		if !ok {
			return e, trainyard.Errorf(trainyard.Invalid, "%sconda_file: want the conda YAML's text; the CLI reads the file for you", field)
		}
		if err := checkCondaFile(text); err != nil {
			return e, trainyard.Errorf(trainyard.Invalid, "%sconda_file: %v", field, err)
		}
		e.CondaFile = text
	}
	return e, nil
}

// checkCondaFile checks that a conda file parses and has the shape conda reads.
func checkCondaFile(text string) error {
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return fmt.Errorf("does not parse: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("want a mapping with name, channels and dependencies, like name: train / dependencies: [python=3.11, pip]")
	}
	for k, v := range m {
		switch k {
		case "name", "prefix":
			if _, ok := v.(string); !ok {
				return fmt.Errorf("%s: want a string", k)
			}
		case "channels", "dependencies":
			if _, ok := v.([]any); !ok {
				return fmt.Errorf("%s: want a list", k)
			}
		case "variables":
		default:
			return fmt.Errorf("unknown key %q: a conda file has name, channels, dependencies, prefix and variables", k)
		}
	}
	return nil
}

// checkContext checks that the build context e names was uploaded.
func (s *Server) checkContext(e trainyard.Environment, field string) error {
	if e.Context == "" {
		return nil
	}
	if _, err := os.Stat(s.snapshotPath(e.Context)); err != nil {
		return trainyard.Errorf(trainyard.Invalid, "%sbuild.path: build context %s was never uploaded; upload the folder first (POST /v1/workspaces/WS/snapshots), or let the CLI upload it for you", field, e.Context)
	}
	return nil
}

// checkEnvironment checks, before anything is created, what needs the engine: that it
// answers, and that an image to run as it is (or to put conda on) exists, since trainyard
// never pulls. A Dockerfile's own FROM images are checked when it is built.
func (s *Server) checkEnvironment(ctx context.Context, e trainyard.Environment, field string) error {
	if s.Images == nil {
		return trainyard.Errorf(trainyard.Unavailable, "%s: this server has no Docker engine, so it cannot run jobs in containers; start dockerd and restart the server, or leave the environment out to run the job as a process", cmp.Or(strings.TrimSuffix(field, "."), "environment"))
	}
	if e.Image == "" {
		return nil
	}
	ok, err := s.Images.Exists(ctx, e.Image)
	if err != nil {
		return trainyard.Errorf(trainyard.Unavailable, "%simage %s: %v", field, e.Image, err)
	}
	if !ok {
		return trainyard.Errorf(trainyard.Invalid, "%simage %s does not exist on this server's Docker engine, and trainyard never pulls from a registry: build or load it there first (docker build -t %s . or docker load), or give a build context instead", field, e.Image, e.Image)
	}
	return nil
}

// jobEnvironment resolves a job's environment, registered or inline, and its container
// settings into j. It returns whether the image must be built before the job can queue.
func (s *Server) jobEnvironment(ctx context.Context, spec api.JobSpec, j *trainyard.Job, validate bool) (build bool, err error) {
	if res := spec.Resources; res != nil {
		if res.ShmSize != "" {
			if j.ShmSize, err = dockerargs.ParseSize(res.ShmSize); err != nil {
				return false, trainyard.Errorf(trainyard.Invalid, "resources.shm_size: %v", err)
			}
		}
		if res.DockerArgs != "" {
			if _, err := dockerargs.Parse(res.DockerArgs); err != nil {
				return false, trainyard.Errorf(trainyard.Invalid, "%v", err)
			}
			j.DockerArgs = res.DockerArgs
		}
	}
	if spec.Environment == nil {
		if j.ShmSize != 0 || j.DockerArgs != "" {
			return false, trainyard.Errorf(trainyard.Invalid, "resources: shm_size and docker_args apply to jobs that run in a container; give the job an environment (environment: NAME:VERSION, or an inline image), or remove them")
		}
		return false, nil
	}
	var e trainyard.Environment
	switch v := spec.Environment.(type) {
	case string:
		name, version, err := trainyard.ParseEnvironmentRef(v)
		if err != nil {
			return false, err
		}
		if e, err = s.Store.Environment(ctx, j.Workspace, name, version); err != nil {
			return false, err
		}
		if err := s.checkEnvironment(ctx, e, "environment."); err != nil {
			return false, err
		}
	case map[string]any:
		var es api.EnvironmentSpec
		b, _ := json.Marshal(v)
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&es); err != nil {
			return false, trainyard.Errorf(trainyard.Invalid, "environment: %v; an inline environment has image, build and conda_file", err)
		}
		if es.Name != "" || es.Version != "" {
			return false, trainyard.Errorf(trainyard.Invalid, "environment: an inline environment has no name or version; register it with trainyard environment create and refer to it as NAME:VERSION")
		}
		es.Name = trainyard.AnonymousEnvironment
		if e, err = environmentFromSpec(j.Workspace, es, "environment."); err != nil {
			return false, err
		}
		e.Version = e.Hash()[:32]
		// Checked before it is stored, so that a refused job leaves no environment.
		if err := s.checkEnvironment(ctx, e, "environment."); err != nil {
			return false, err
		}
		if !validate {
			if err := s.checkContext(e, "environment."); err != nil {
				return false, err
			}
			if e, err = s.Store.CreateEnvironment(ctx, e); err != nil {
				return false, err
			}
		}
	default:
		return false, trainyard.Errorf(trainyard.Invalid, "environment: want NAME:VERSION, NAME@latest or an inline environment with image or build")
	}
	j.EnvironmentRef, j.Image = e.Ref(), e.RunImage()
	if !e.NeedsBuild() {
		return false, nil
	}
	ok, err := s.Images.Exists(ctx, j.Image)
	if err != nil {
		return false, trainyard.Errorf(trainyard.Unavailable, "environment: %v", err)
	}
	return !ok, nil
}
