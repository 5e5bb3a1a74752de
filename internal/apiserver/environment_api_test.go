package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
)

// The container-environment API: environments (image, build context, conda file on an image),
// their versions, and jobs that run in them, over the real handler and store. fakeImages
// stands for the Docker engine's image store.

const (
	baseImage  = "trainyard/base:bookworm-1"
	otherImage = "trainyard/base:trixie-1"
	envPath    = "/v1/workspaces/default/environments"
	jobsPath   = "/v1/workspaces/default/jobs"
	// standIn is a well-formed build-context ID that was never uploaded.
	standIn = "0000000000000000000000000000000000000000000000000000000000000000"
	// condaText is a conda file that parses and has conda's shape.
	condaText = "name: train\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip: [torch]\n"
)

var (
	hashRE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	builtRE     = regexp.MustCompile(`^trainyard/env:[0-9a-f]{24}$`)
	anonRefRE   = regexp.MustCompile(`^` + trainyard.AnonymousEnvironment + `:[0-9a-f]{32}$`)
	_           = apiserver.Images((*fakeImages)(nil))
	errNoDaemon = errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
)

// fakeImages is an engine's image store: the images it has, or an error for every question.
type fakeImages struct {
	mu   sync.Mutex
	have map[string]bool
	err  error
}

func (f *fakeImages) Exists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	return f.have[ref], nil
}

// add puts an image on the engine, as a build or a docker load would.
func (f *fakeImages) add(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.have[ref] = true
}

func (f *fakeImages) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// newDockerEnv is an env whose server has an engine holding images; builds counts the times
// the server asked the image builder for a pass.
func newDockerEnv(t *testing.T, images ...string) (e *env, engine *fakeImages, builds *atomic.Int32) {
	t.Helper()
	engine = &fakeImages{have: map[string]bool{}}
	for _, ref := range images {
		engine.add(ref)
	}
	builds = new(atomic.Int32)
	e = newEnvWith(t, func(s *apiserver.Server) {
		s.Images = engine
		s.Build = func() { builds.Add(1) }
	})
	return e, engine, builds
}

func mustEnvironment(t *testing.T, e *env, spec api.EnvironmentSpec) api.Environment {
	t.Helper()
	got, err := e.c.CreateEnvironment(t.Context(), "default", spec)
	if err != nil {
		t.Fatalf("CreateEnvironment(%s) error: %v", spec.Name, err)
	}
	return got
}

func mustUpload(t *testing.T, e *env, content string) string {
	t.Helper()
	snap, err := e.c.UploadSnapshot(t.Context(), "default", strings.NewReader(content))
	if err != nil {
		t.Fatalf("UploadSnapshot() error: %v", err)
	}
	return snap.ID
}

func mustJob(t *testing.T, e *env, spec api.JobSpec) api.Job {
	t.Helper()
	if spec.Command == "" {
		spec.Command = "python train.py"
	}
	j, err := e.c.CreateJob(t.Context(), "default", spec)
	if err != nil {
		t.Fatalf("CreateJob(environment %v) error: %v", spec.Environment, err)
	}
	return j
}

func envRefs(envs []api.Environment) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.Name+":"+e.Version)
	}
	return out
}

func wantNoJobs(t *testing.T, e *env, after string) {
	t.Helper()
	if jobs, err := e.c.Jobs(t.Context(), "default", "", "", 0); err != nil || len(jobs) != 0 {
		t.Errorf("Jobs() after %s = %d, %v; want none", after, len(jobs), err)
	}
}

func wantEnvironments(t *testing.T, e *env, after string, want ...string) {
	t.Helper()
	list, err := e.c.Environments(t.Context(), "default", "")
	if err != nil {
		t.Fatalf("Environments() after %s error: %v", after, err)
	}
	if got := envRefs(list); !slices.Equal(got, want) {
		t.Errorf("Environments() after %s = %q, want %q", after, got, want)
	}
}

func TestEnvironmentFromImage(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage)
	ctx := t.Context()
	status, body := e.call(t, "POST", envPath, e.admin,
		`{"name": "train-env", "image": "`+baseImage+`", "description": "the base image", "tags": {"team": "vision"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create = %d %s, want 201", status, body)
	}
	var created api.Environment
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got api.Environment) {
		t.Helper()
		if got.Name != "train-env" || got.Version != "1" || got.Workspace != "default" {
			t.Errorf("%s: %s:%s in %q, want train-env:1 in default", what, got.Name, got.Version, got.Workspace)
		}
		if got.Image != baseImage || got.RunImage != baseImage {
			t.Errorf("%s: image %q run image %q, want both %s: an image runs as it is", what, got.Image, got.RunImage, baseImage)
		}
		if got.Description != "the base image" || got.Tags["team"] != "vision" {
			t.Errorf("%s: description %q tags %v, want them echoed", what, got.Description, got.Tags)
		}
		if got.Build != nil || got.CondaFile != "" {
			t.Errorf("%s: build %+v conda %q, want neither", what, got.Build, got.CondaFile)
		}
		if !hashRE.MatchString(got.Hash) {
			t.Errorf("%s: hash %q, want 64 hex digits", what, got.Hash)
		}
		if got.Built == nil || !*got.Built {
			t.Errorf("%s: built %v, want true: the engine has the image", what, got.Built)
		}
		if got.Created.IsZero() {
			t.Errorf("%s: no createdAt", what)
		}
	}
	check("create answer", created)
	for _, version := range []string{"1", ""} {
		shown, err := e.c.Environment(ctx, "default", "train-env", version)
		if err != nil {
			t.Fatalf("Environment(train-env, %q) error: %v", version, err)
		}
		check("show "+version, shown)
	}
	status, body = e.call(t, "GET", envPath+"/train-env/versions/latest", e.admin, "")
	var latest api.Environment
	if status != http.StatusOK || json.Unmarshal(body, &latest) != nil {
		t.Fatalf("show latest = %d %s, want 200", status, body)
	}
	check("show latest", latest)
	list, err := e.c.Environments(ctx, "default", "")
	if err != nil || len(list) != 1 {
		t.Fatalf("Environments() = %d, %v; want 1", len(list), err)
	}
	check("list", list[0])

	// The image is trimmed: a stray space in a YAML file is not a different image.
	spaced := mustEnvironment(t, e, api.EnvironmentSpec{Name: "spaced", Image: " " + baseImage + " "})
	if spaced.Image != baseImage || spaced.Hash != created.Hash {
		t.Errorf("image with spaces = %q hash %s, want %s with the same hash as train-env", spaced.Image, spaced.Hash, baseImage)
	}
}

func TestEnvironmentVersions(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage, otherImage)
	ctx := t.Context()
	for i, want := range []string{"1", "2"} {
		img := []string{baseImage, otherImage}[i]
		if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: img}); got.Version != want {
			t.Errorf("create %d without a version = version %q, want %s", i+1, got.Version, want)
		}
	}
	if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Version: "rc-1", Image: baseImage}); got.Version != "rc-1" {
		t.Errorf("create with version rc-1 = version %q", got.Version)
	}

	// A taken version is a conflict, whatever the content, and the version keeps its own.
	for _, v := range []string{"2", "rc-1"} {
		_, err := e.c.CreateEnvironment(ctx, "default", api.EnvironmentSpec{Name: "train-env", Version: v, Image: baseImage})
		wantError(t, err, http.StatusConflict, trainyard.Conflict, "train-env:"+v, "already exists", "versions never change", "leave version out")
	}
	if got, err := e.c.Environment(ctx, "default", "train-env", "2"); err != nil || got.Image != otherImage {
		t.Errorf("train-env:2 after a conflicting create = image %q, %v; want %s, unchanged", got.Image, err, otherImage)
	}

	// The next version is one more than the highest whole number; rc-1 does not count.
	if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage}); got.Version != "3" {
		t.Errorf("create after 1, 2 and rc-1 = version %q, want 3", got.Version)
	}
	if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Version: "10", Image: baseImage}); got.Version != "10" {
		t.Errorf("create with version 10 = version %q", got.Version)
	}
	if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: otherImage}); got.Version != "11" {
		t.Errorf("create after 10 = version %q, want 11", got.Version)
	}
	// Versions count per name.
	if got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "eval-env", Image: baseImage}); got.Version != "1" {
		t.Errorf("first eval-env = version %q, want 1", got.Version)
	}

	// latest is the newest created.
	for _, version := range []string{"", "latest"} {
		got, err := e.c.Environment(ctx, "default", "train-env", version)
		if err != nil || got.Version != "11" || got.Image != otherImage {
			t.Errorf("Environment(train-env, %q) = %s %s, %v; want version 11 of %s", version, got.Version, got.Image, err, otherImage)
		}
	}
	wantEnvironments(t, e, "the creates", "eval-env:1", "train-env:11")
	versions, err := e.c.Environments(ctx, "default", "train-env")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := envRefs(versions), []string{"train-env:11", "train-env:10", "train-env:3", "train-env:rc-1", "train-env:2", "train-env:1"}; !slices.Equal(got, want) {
		t.Errorf("Environments(train-env) = %q, want every version newest first %q", got, want)
	}
	if versions, err := e.c.Environments(ctx, "default", "nope"); err != nil || len(versions) != 0 {
		t.Errorf("Environments(nope) = %d, %v; want none", len(versions), err)
	}

	// Unknown names and versions are 404s that say which and how to list them.
	_, err = e.c.Environment(ctx, "default", "nope", "")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, "nope@latest", "trainyard environment list")
	_, err = e.c.Environment(ctx, "default", "train-env", "9")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, "train-env:9", "trainyard environment list")
	_, err = e.c.CreateEnvironment(ctx, "nope", api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `workspace "nope"`)
	_, err = e.c.Environments(ctx, "nope", "")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `workspace "nope"`)
}

func TestCreateEnvironmentRejectsBadSpecs(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage)
	tests := []struct {
		name     string
		body     any
		mentions []string
	}{
		{name: "no name", body: api.EnvironmentSpec{Image: baseImage}, mentions: []string{"name is required"}},
		{name: "bad name", body: api.EnvironmentSpec{Name: "-env", Image: baseImage},
			mentions: []string{`environment name "-env" is not valid`, "starting with a letter or digit"}},
		{name: "curated name", body: api.EnvironmentSpec{Name: "AzureML-sklearn-1.0", Image: baseImage},
			mentions: []string{`"AzureML-sklearn-1.0"`, "reserved for curated environments"}},
		{name: "version latest", body: api.EnvironmentSpec{Name: "train-env", Version: "latest", Image: baseImage},
			mentions: []string{`environment version "latest" is not valid`}},
		{name: "version with a space", body: api.EnvironmentSpec{Name: "train-env", Version: "1 0", Image: baseImage},
			mentions: []string{`environment version "1 0" is not valid`}},
		{name: "neither image nor build", body: api.EnvironmentSpec{Name: "train-env"},
			mentions: []string{"image or build is required"}},
		{name: "image and build", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, Build: &api.BuildContext{Path: standIn}},
			mentions: []string{"image and build are both set", "give one"}},
		{name: "build path is a folder", body: api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: "./ctx"}},
			mentions: []string{`build.path "./ctx"`, "ID of an uploaded build context", "the CLI uploads"}},
		{name: "dockerfile outside the context", body: api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: standIn, DockerfilePath: "../Dockerfile"}},
			mentions: []string{`build.dockerfile_path "../Dockerfile"`, "inside the build context"}},
		{name: "dockerfile outside after cleaning", body: api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: standIn, DockerfilePath: "docker/../../Dockerfile"}},
			mentions: []string{"build.dockerfile_path", "inside the build context"}},
		{name: "absolute dockerfile", body: api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: standIn, DockerfilePath: "/etc/Dockerfile"}},
			mentions: []string{`build.dockerfile_path "/etc/Dockerfile"`}},
		{name: "windows", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, OSType: "windows"},
			mentions: []string{`os_type "windows"`, "linux"}},
		{name: "inference config", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, InferenceConfig: map[string]any{"liveness_route": "/"}},
			mentions: []string{"inference_config", "remove the key"}},
		{name: "misspelt key", body: map[string]any{"name": "train-env", "imgae": baseImage},
			mentions: []string{`unknown field "imgae"`}},
		{name: "conda file does not parse", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, CondaFile: "name: train\ndependencies: [python=3.11\n"},
			mentions: []string{"conda_file: does not parse"}},
		{name: "conda file is a list", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, CondaFile: "- python=3.11\n"},
			mentions: []string{"conda_file: want a mapping", "dependencies"}},
		{name: "conda file is empty", body: map[string]any{"name": "train-env", "image": baseImage, "conda_file": ""},
			mentions: []string{"conda_file: want a mapping"}},
		{name: "unknown conda key", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, CondaFile: "name: train\npackages: [numpy]\n"},
			mentions: []string{`conda_file: unknown key "packages"`, "channels, dependencies"}},
		{name: "conda dependencies not a list", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, CondaFile: "dependencies: numpy\n"},
			mentions: []string{"conda_file: dependencies: want a list"}},
		{name: "conda name not a string", body: api.EnvironmentSpec{Name: "train-env", Image: baseImage, CondaFile: "name: [a, b]\n"},
			mentions: []string{"conda_file: name: want a string"}},
		{name: "conda file as a mapping on the wire", body: map[string]any{"name": "train-env", "image": baseImage, "conda_file": map[string]any{"name": "train"}},
			mentions: []string{"conda_file: want the conda YAML's text", "the CLI reads the file"}},
		{name: "conda file with build", body: api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: standIn}, CondaFile: condaText},
			mentions: []string{"conda_file goes with image, not with build", "Dockerfile"}},
		{name: "missing image", body: api.EnvironmentSpec{Name: "train-env", Image: "nosuch/image:1"},
			mentions: []string{"image nosuch/image:1 does not exist on this server's Docker engine", "never pulls", "docker build -t nosuch/image:1", "docker load"}},
		{name: "conda on a missing image", body: api.EnvironmentSpec{Name: "train-env", Image: "nosuch/image:1", CondaFile: condaText},
			mentions: []string{"image nosuch/image:1 does not exist", "never pulls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.c.Do(t.Context(), "POST", envPath, tt.body, nil)
			wantError(t, err, http.StatusBadRequest, trainyard.Invalid, tt.mentions...)
		})
	}
	wantEnvironments(t, e, "refused creates")
}

func TestEnvironmentCondaFile(t *testing.T) {
	e, engine, _ := newDockerEnv(t, baseImage)
	got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "conda-env", Image: baseImage, CondaFile: condaText})
	if got.CondaFile != condaText || got.Image != baseImage {
		t.Errorf("conda env = image %q conda %q, want %s and the text as sent", got.Image, got.CondaFile, baseImage)
	}
	if !builtRE.MatchString(got.RunImage) || got.RunImage != "trainyard/env:"+got.Hash[:24] {
		t.Errorf("run image %q, want trainyard/env: and the first 24 digits of hash %s", got.RunImage, got.Hash)
	}
	if got.Built == nil || *got.Built {
		t.Errorf("built = %v, want false: the conda layer is not built yet", got.Built)
	}
	engine.add(got.RunImage)
	if shown, err := e.c.Environment(t.Context(), "default", "conda-env", "1"); err != nil || shown.Built == nil || !*shown.Built {
		t.Errorf("after the build: built = %v, %v; want true", shown.Built, err)
	}
}

func TestEnvironmentBuildContext(t *testing.T) {
	e, engine, _ := newDockerEnv(t, baseImage)
	ctx := t.Context()
	id := mustUpload(t, e, "a build context with a Dockerfile")
	got := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: id}})
	if got.Build == nil || *got.Build != (api.BuildContext{Path: id, DockerfilePath: "Dockerfile"}) {
		t.Errorf("build = %+v, want the context %s with the default Dockerfile", got.Build, id)
	}
	if got.Image != "" || !builtRE.MatchString(got.RunImage) || got.RunImage != "trainyard/env:"+got.Hash[:24] {
		t.Errorf("image %q run image %q, want no image and trainyard/env:<hash>", got.Image, got.RunImage)
	}
	if got.Built == nil || *got.Built {
		t.Errorf("built = %v, want false before the build", got.Built)
	}

	// The image is cached by content: a ./ or a detour in the Dockerfile's path is the same
	// Dockerfile, so the same image; another Dockerfile is another image.
	same := mustEnvironment(t, e, api.EnvironmentSpec{Name: "same-env", Build: &api.BuildContext{Path: id, DockerfilePath: "./docker/../Dockerfile"}})
	if same.Build.DockerfilePath != "Dockerfile" || same.RunImage != got.RunImage {
		t.Errorf("./docker/../Dockerfile = dockerfile %q run image %s, want Dockerfile and %s", same.Build.DockerfilePath, same.RunImage, got.RunImage)
	}
	gpu := mustEnvironment(t, e, api.EnvironmentSpec{Name: "gpu-env", Build: &api.BuildContext{Path: id, DockerfilePath: "./docker/train.Dockerfile"}})
	if gpu.Build.DockerfilePath != "docker/train.Dockerfile" || gpu.RunImage == got.RunImage {
		t.Errorf("docker/train.Dockerfile = dockerfile %q run image %s, want docker/train.Dockerfile and not %s", gpu.Build.DockerfilePath, gpu.RunImage, got.RunImage)
	}

	engine.add(got.RunImage)
	for _, name := range []string{"train-env", "same-env"} {
		if shown, err := e.c.Environment(ctx, "default", name, ""); err != nil || shown.Built == nil || !*shown.Built {
			t.Errorf("%s after its image is built: built = %v, %v; want true", name, shown.Built, err)
		}
	}
	if shown, err := e.c.Environment(ctx, "default", "gpu-env", ""); err != nil || shown.Built == nil || *shown.Built {
		t.Errorf("gpu-env: built = %v, %v; want false", shown.Built, err)
	}
}

// A registered environment's build context must have been uploaded, as a job's inline one
// must: else the environment is created and every job of it fails at build time.
func TestEnvironmentBuildContextNeverUploaded(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage)
	_, err := e.c.CreateEnvironment(t.Context(), "default", api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: standIn}})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "build.path", "never uploaded")
	wantEnvironments(t, e, "a refused create")
}

func TestEnvironmentEngineErrors(t *testing.T) {
	e, engine, _ := newDockerEnv(t, baseImage)
	ctx := t.Context()
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	engine.fail(errNoDaemon)

	_, err := e.c.CreateEnvironment(ctx, "default", api.EnvironmentSpec{Name: "eval-env", Image: baseImage})
	wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, "image "+baseImage, "Cannot connect to the Docker daemon")
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Environment: "train-env:1"})
	wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, "environment.image "+baseImage, "Cannot connect to the Docker daemon")
	wantNoJobs(t, e, "a refused job")

	// What is registered is still shown; whether it is built is unknown, so left out.
	shown, err := e.c.Environment(ctx, "default", "train-env", "1")
	if err != nil || shown.Built != nil {
		t.Errorf("show while the engine fails = built %v, %v; want no built field", shown.Built, err)
	}
	wantEnvironments(t, e, "the engine failed", "train-env:1")
}

// Without an engine, environments and container jobs are refused with what to do; process jobs
// still run.
func TestEnvironmentsWithoutEngine(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	noEngine := []string{"no Docker engine", "cannot run jobs in containers", "start dockerd and restart the server"}

	_, err := e.c.CreateEnvironment(ctx, "default", api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, noEngine...)
	wantEnvironments(t, e, "a refused create")

	// An environment registered while the server had an engine.
	if _, err := e.db.CreateEnvironment(ctx, trainyard.Environment{Workspace: "default", Name: "train-env", Image: baseImage}); err != nil {
		t.Fatal(err)
	}
	shown, err := e.c.Environment(ctx, "default", "train-env", "")
	if err != nil || shown.Image != baseImage || shown.Built != nil {
		t.Errorf("show without an engine = image %q built %v, %v; want %s, no built field", shown.Image, shown.Built, err, baseImage)
	}

	for _, tt := range []struct {
		name string
		env  any
	}{
		{"registered", "azureml:train-env:1"},
		{"latest", "train-env@latest"},
		{"inline image", map[string]any{"image": baseImage}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := api.JobSpec{Name: "train", Command: "python train.py", Environment: tt.env}
			_, err := e.c.CreateJob(t.Context(), "default", spec)
			wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, append(noEngine, "leave the environment out")...)
			err = e.c.Do(t.Context(), "POST", jobsPath+"?validate=true", spec, nil)
			wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, noEngine...)
		})
	}
	wantNoJobs(t, e, "refused container jobs")

	j := mustJob(t, e, api.JobSpec{Name: "train"})
	if j.Status != string(trainyard.JobQueued) || j.Environment != "" || j.Image != "" || j.ShmSize != "" {
		t.Errorf("process job = status %q environment %q image %q shm %q, want Queued with no container", j.Status, j.Environment, j.Image, j.ShmSize)
	}
}

// A job's error names its field once: environment:, not environment.environment:.
func TestNoEngineJobMessageNamesTheFieldOnce(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.CreateJob(t.Context(), "default", api.JobSpec{Command: "python train.py", Environment: map[string]any{"image": baseImage}})
	wantError(t, err, http.StatusServiceUnavailable, trainyard.Unavailable, "no Docker engine")
	if apiErr, ok := errors.AsType[*api.Error](err); !ok || !strings.HasPrefix(apiErr.Message, "environment: ") {
		t.Errorf("error %v, want its message to start with the field once, environment:", err)
	}
}

// A job refused for its environment leaves nothing behind, not even the anonymous environment
// of an inline one.
func TestRefusedJobLeavesNoEnvironment(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage)
	_, err := e.c.CreateJob(t.Context(), "default", api.JobSpec{Command: "python train.py", Environment: map[string]any{"image": "nosuch/image:1"}})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "environment.image nosuch/image:1 does not exist", "never pulls")
	wantNoJobs(t, e, "a refused job")
	list, err := e.c.Environments(t.Context(), "default", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("a refused job left %s registered", strings.Join(envRefs(list), ", "))
	}
}

func TestJobEnvironmentRefs(t *testing.T) {
	e, _, builds := newDockerEnv(t, baseImage, otherImage)
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: otherImage})
	tests := []struct {
		ref, wantEnv, wantImage string
	}{
		{"azureml:train-env:1", "train-env:1", baseImage},
		{"train-env:1", "train-env:1", baseImage},
		{"train-env:2", "train-env:2", otherImage},
		{"train-env@latest", "train-env:2", otherImage},
		{"azureml:train-env@latest", "train-env:2", otherImage},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			j := mustJob(t, e, api.JobSpec{Environment: tt.ref})
			shown, err := e.c.Job(t.Context(), "default", j.Name)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]api.Job{"create answer": j, "show": shown} {
				if got.Environment != tt.wantEnv || got.Image != tt.wantImage || got.ShmSize != "2g" || got.DockerArgs != "" {
					t.Errorf("%s: environment %q image %q shm %q docker args %q, want %s %s 2g and none",
						what, got.Environment, got.Image, got.ShmSize, got.DockerArgs, tt.wantEnv, tt.wantImage)
				}
				if got.Status != string(trainyard.JobQueued) || got.WaitReason == "" || strings.HasPrefix(got.WaitReason, trainyard.WaitBuildingImage) {
					t.Errorf("%s: status %q wait reason %q, want Queued: the image exists, nothing to build", what, got.Status, got.WaitReason)
				}
			}
		})
	}
	if n := builds.Load(); n != 0 {
		t.Errorf("the builder was asked %d times, want never: every image exists", n)
	}
	jobs, err := e.c.Jobs(t.Context(), "default", "", "", 0)
	if err != nil || len(jobs) != len(tests) {
		t.Fatalf("Jobs() = %d, %v; want %d", len(jobs), err, len(tests))
	}
	for _, j := range jobs {
		if j.Environment == "" || j.Image == "" || j.ShmSize != "2g" {
			t.Errorf("listed job %s: environment %q image %q shm %q, want them shown", j.Name, j.Environment, j.Image, j.ShmSize)
		}
	}
}

// Each refused job is refused whole: nothing is created and its name stays free.
func TestJobEnvironmentRefused(t *testing.T) {
	e, _, builds := newDockerEnv(t, baseImage)
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	res := func(shm, args string) *api.Resources { return &api.Resources{ShmSize: shm, DockerArgs: args} }
	tests := []struct {
		name     string
		env      any
		res      *api.Resources
		status   int
		code     trainyard.Code
		mentions []string
	}{
		{name: "unknown version", env: "azureml:train-env:9", status: http.StatusNotFound, code: trainyard.NotFound,
			mentions: []string{"environment train-env:9 not found", "trainyard environment list"}},
		{name: "unknown name", env: "nope@latest", status: http.StatusNotFound, code: trainyard.NotFound,
			mentions: []string{"environment nope@latest not found", "trainyard environment list"}},
		{name: "curated environment", env: "azureml:AzureML-sklearn-1.0:1", status: http.StatusNotFound, code: trainyard.NotFound,
			mentions: []string{"AzureML-sklearn-1.0:1 not found"}},
		{name: "other label", env: "train-env@stable", status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`environment "train-env@stable"`, "the only label is latest"}},
		{name: "no version", env: "train-env", status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`environment "train-env"`, "NAME:VERSION or NAME@latest"}},
		{name: "version latest", env: "train-env:latest", status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`environment version "latest" is not valid`}},
		{name: "bad name", env: "-env:1", status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`"-env" is not an environment name`}},
		{name: "a number", env: 42, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment: want NAME:VERSION, NAME@latest or an inline environment"}},
		{name: "inline with a name", env: map[string]any{"name": "mine", "image": baseImage}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"an inline environment has no name or version", "trainyard environment create"}},
		{name: "inline misspelt key", env: map[string]any{"imgae": baseImage}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`unknown field "imgae"`, "image, build and conda_file"}},
		{name: "inline conda file without image", env: map[string]any{"conda_file": condaText}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment.conda_file goes on top of an image", "give environment.image"}},
		{name: "inline neither image nor build", env: map[string]any{"description": "empty"}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment.image or environment.build is required"}},
		{name: "inline missing image", env: map[string]any{"image": "nosuch/image:1"}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment.image nosuch/image:1 does not exist", "never pulls"}},
		{name: "inline build folder", env: map[string]any{"build": map[string]any{"path": "./ctx"}}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`environment.build.path "./ctx"`, "the CLI uploads"}},
		{name: "inline build never uploaded", env: map[string]any{"build": map[string]any{"path": standIn}}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment.build.path: build context " + standIn + " was never uploaded"}},
		{name: "inline conda does not parse", env: map[string]any{"image": baseImage, "conda_file": "dependencies: [python"}, status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"environment.conda_file: does not parse"}},
		{name: "shm size lots", env: "train-env:1", res: res("lots", ""), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`resources.shm_size: "lots" is not a size`, "like 2g or 512m"}},
		{name: "shm size zero", env: "train-env:1", res: res("0", ""), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.shm_size", "above zero"}},
		{name: "docker args network", env: "train-env:1", res: res("", "--network host"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: --network is not allowed", "the node decides the network"}},
		{name: "docker args mount", env: "train-env:1", res: res("", "-v /data:/data"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: -v is not allowed", "mounts are not allowed"}},
		{name: "docker args gpus", env: "train-env:1", res: res("", "--gpus all"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: --gpus is not allowed"}},
		{name: "docker args privileged", env: "train-env:1", res: res("", "--privileged"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: --privileged is not allowed", "--device", "--cap-add"}},
		{name: "docker args unsupported", env: "train-env:1", res: res("", "--rm"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: --rm is not supported", "--ipc"}},
		{name: "docker args with an image", env: "train-env:1", res: res("", "ubuntu:22.04 bash"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{`resources.docker_args: "ubuntu:22.04" is not an option`}},
		{name: "docker args missing a value", env: "train-env:1", res: res("", "--ulimit"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args: --ulimit needs a value", "memlock"}},
		{name: "docker args unclosed quote", env: "train-env:1", res: res("", `--env "A=1`), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"resources.docker_args"}},
		{name: "shm size without an environment", res: res("1g", ""), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"shm_size and docker_args apply to jobs that run in a container", "give the job an environment"}},
		{name: "docker args without an environment", res: res("", "--ipc=host"), status: http.StatusBadRequest, code: trainyard.Invalid,
			mentions: []string{"shm_size and docker_args apply to jobs that run in a container"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := api.JobSpec{Name: "train", Command: "python train.py", Environment: tt.env, Resources: tt.res}
			_, err := e.c.CreateJob(t.Context(), "default", spec)
			wantError(t, err, tt.status, tt.code, tt.mentions...)
			// Validation answers the same, before the CLI uploads anything.
			if tt.name != "inline build never uploaded" {
				err = e.c.Do(t.Context(), "POST", jobsPath+"?validate=true", spec, nil)
				wantError(t, err, tt.status, tt.code, tt.mentions...)
			}
		})
	}
	wantNoJobs(t, e, "refused jobs")
	if n := builds.Load(); n != 0 {
		t.Errorf("the builder was asked %d times for refused jobs, want never", n)
	}
	if _, err := e.c.Job(t.Context(), "default", "train"); !api.IsNotFound(err) {
		t.Errorf("Job(train) after refused creates: %v, want not found", err)
	}
	j := mustJob(t, e, api.JobSpec{Name: "train", Environment: "train-env:1", Resources: res("1g", "")})
	if j.Name != "train" || j.Environment != "train-env:1" || j.ShmSize != "1g" {
		t.Errorf("a valid job named train = %s environment %q shm %q, want train train-env:1 1g", j.Name, j.Environment, j.ShmSize)
	}
}

func TestJobContainerSettings(t *testing.T) {
	e, _, _ := newDockerEnv(t, baseImage)
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	tests := []struct {
		name           string
		res            *api.Resources
		wantShm, wantA string
	}{
		{name: "defaults", wantShm: "2g"},
		{name: "resources without shm", res: &api.Resources{InstanceCount: intp(1)}, wantShm: "2g"},
		{name: "shm 1g", res: &api.Resources{ShmSize: "1g"}, wantShm: "1g"},
		{name: "shm 512m", res: &api.Resources{ShmSize: "512m"}, wantShm: "512m"},
		{name: "shm 8G in capitals", res: &api.Resources{ShmSize: "8G"}, wantShm: "8g"},
		{name: "shm 1.5g", res: &api.Resources{ShmSize: "1.5g"}, wantShm: "1536m"},
		{name: "shm in bytes", res: &api.Resources{ShmSize: "1000"}, wantShm: "1000"},
		{name: "docker args", res: &api.Resources{DockerArgs: "--ipc=host --ulimit memlock=-1:-1"}, wantShm: "2g", wantA: "--ipc=host --ulimit memlock=-1:-1"},
		{name: "both", res: &api.Resources{ShmSize: "1g", DockerArgs: "-e NCCL_DEBUG=INFO"}, wantShm: "1g", wantA: "-e NCCL_DEBUG=(hidden)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustJob(t, e, api.JobSpec{Environment: "train-env:1", Resources: tt.res})
			shown, err := e.c.Job(t.Context(), "default", j.Name)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]api.Job{"create answer": j, "show": shown} {
				if got.ShmSize != tt.wantShm || got.DockerArgs != tt.wantA || got.Image != baseImage {
					t.Errorf("%s: shm %q docker args %q image %q, want %q %q %s", what, got.ShmSize, got.DockerArgs, got.Image, tt.wantShm, tt.wantA, baseImage)
				}
			}
		})
	}
}

func TestJobWaitsForImageBuild(t *testing.T) {
	e, engine, builds := newDockerEnv(t, baseImage)
	ctx := t.Context()
	mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster"})
	id := mustUpload(t, e, "a build context with a Dockerfile")
	built := mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Build: &api.BuildContext{Path: id}})
	conda := mustEnvironment(t, e, api.EnvironmentSpec{Name: "conda-env", Image: baseImage, CondaFile: condaText})
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "plain-env", Image: baseImage})

	wantPreparing := func(what string, j api.Job, want api.Environment) {
		t.Helper()
		if j.Status != string(trainyard.JobPreparing) {
			t.Errorf("%s: status %q, want Preparing while the image builds", what, j.Status)
		}
		if !strings.HasPrefix(j.WaitReason, trainyard.WaitBuildingImage) || !strings.Contains(j.WaitReason, want.RunImage) ||
			!strings.Contains(j.WaitReason, want.Name+":"+want.Version) {
			t.Errorf("%s: wait reason %q, want BuildingImage naming image %s and environment %s:%s", what, j.WaitReason, want.RunImage, want.Name, want.Version)
		}
		if j.Image != want.RunImage || j.Environment != want.Name+":"+want.Version || j.ShmSize != "2g" {
			t.Errorf("%s: image %q environment %q shm %q, want %s %s:%s 2g", what, j.Image, j.Environment, j.ShmSize, want.RunImage, want.Name, want.Version)
		}
	}
	for i, ref := range []string{"train-env:1", "azureml:train-env@latest"} {
		j := mustJob(t, e, api.JobSpec{Environment: ref, Compute: api.Named("gpu-cluster")})
		wantPreparing("job of "+ref, j, built)
		shown, err := e.c.Job(ctx, "default", j.Name)
		if err != nil {
			t.Fatal(err)
		}
		wantPreparing("show job of "+ref, shown, built)
		if n := builds.Load(); n != int32(i+1) {
			t.Errorf("after job %d the builder was asked %d times, want %d", i+1, n, i+1)
		}
	}
	j := mustJob(t, e, api.JobSpec{Environment: "conda-env:1"})
	wantPreparing("job of conda-env:1", j, conda)
	if j.Image == baseImage {
		t.Errorf("conda job runs in %s, want the image with the conda layer", j.Image)
	}
	preparing, err := e.c.Jobs(ctx, "default", "", string(trainyard.JobPreparing), 0)
	if err != nil || len(preparing) != 3 {
		t.Errorf("Jobs(Preparing) = %d, %v; want 3", len(preparing), err)
	}

	// An image that exists needs no build: the job queues at once.
	asked := builds.Load()
	plain := mustJob(t, e, api.JobSpec{Environment: "plain-env:1", Compute: api.Named("gpu-cluster")})
	if plain.Status != string(trainyard.JobQueued) || strings.HasPrefix(plain.WaitReason, trainyard.WaitBuildingImage) {
		t.Errorf("job of an existing image = %q %q, want Queued waiting for a node", plain.Status, plain.WaitReason)
	}
	// Once built, the same environment's next job queues at once too.
	engine.add(built.RunImage)
	again := mustJob(t, e, api.JobSpec{Environment: "train-env:1", Compute: api.Named("gpu-cluster")})
	if again.Status != string(trainyard.JobQueued) || !strings.HasPrefix(again.WaitReason, trainyard.WaitWaitingForNodes) || again.Image != built.RunImage {
		t.Errorf("job after the build = %q %q image %q, want Queued waiting for nodes in %s", again.Status, again.WaitReason, again.Image, built.RunImage)
	}
	if n := builds.Load(); n != asked {
		t.Errorf("jobs whose images exist asked the builder %d more times, want none", n-asked)
	}
}

func TestJobInlineEnvironment(t *testing.T) {
	e, _, builds := newDockerEnv(t, baseImage, otherImage)
	ctx := t.Context()
	first := mustJob(t, e, api.JobSpec{Environment: map[string]any{"image": baseImage}})
	if first.Status != string(trainyard.JobQueued) || first.Image != baseImage || !anonRefRE.MatchString(first.Environment) || first.ShmSize != "2g" {
		t.Errorf("inline image job = %q image %q environment %q shm %q, want Queued in %s as %s:<hash> with 2g",
			first.Status, first.Image, first.Environment, first.ShmSize, baseImage, trainyard.AnonymousEnvironment)
	}
	if shown, err := e.c.Job(ctx, "default", first.Name); err != nil || shown.Environment != first.Environment || shown.Image != baseImage {
		t.Errorf("show inline image job = environment %q image %q, %v; want %s %s", shown.Environment, shown.Image, err, first.Environment, baseImage)
	}
	// The same inline content is the same environment; other content, another.
	second := mustJob(t, e, api.JobSpec{Environment: map[string]any{"image": baseImage}, Resources: &api.Resources{ShmSize: "1g"}})
	if second.Environment != first.Environment || second.ShmSize != "1g" {
		t.Errorf("second inline job = environment %q shm %q, want %s 1g", second.Environment, second.ShmSize, first.Environment)
	}
	other := mustJob(t, e, api.JobSpec{Environment: map[string]any{"image": otherImage}})
	if other.Environment == first.Environment || other.Image != otherImage || !anonRefRE.MatchString(other.Environment) {
		t.Errorf("inline job of %s = environment %q image %q, want its own anonymous environment", otherImage, other.Environment, other.Image)
	}
	name, version, _ := strings.Cut(first.Environment, ":")
	if got, err := e.c.Environment(ctx, "default", name, version); err != nil || got.Image != baseImage {
		t.Errorf("Environment(%s) = image %q, %v; want %s", first.Environment, got.Image, err, baseImage)
	}
	if n := builds.Load(); n != 0 {
		t.Errorf("inline image jobs asked the builder %d times, want never", n)
	}

	// Inline build contexts and conda files are built first.
	id := mustUpload(t, e, "a build context with a Dockerfile")
	for _, tt := range []struct {
		name string
		env  map[string]any
	}{
		{"build", map[string]any{"build": map[string]any{"path": id}}},
		{"conda", map[string]any{"image": baseImage, "conda_file": condaText}},
	} {
		j := mustJob(t, e, api.JobSpec{Environment: tt.env})
		if j.Status != string(trainyard.JobPreparing) || !strings.HasPrefix(j.WaitReason, trainyard.WaitBuildingImage) ||
			!builtRE.MatchString(j.Image) || !anonRefRE.MatchString(j.Environment) || !strings.Contains(j.WaitReason, j.Image) {
			t.Errorf("inline %s job = %q %q image %q environment %q, want Preparing, BuildingImage of trainyard/env:<hash>",
				tt.name, j.Status, j.WaitReason, j.Image, j.Environment)
		}
	}
	if n := builds.Load(); n != 2 {
		t.Errorf("the builder was asked %d times, want 2: once per job that needs a build", n)
	}
}

// ?validate=true checks the environment as a create would, answers 204 and creates nothing:
// no job, no anonymous environment, no build.
func TestCreateJobValidateOnlyWithEnvironment(t *testing.T) {
	e, _, builds := newDockerEnv(t, baseImage)
	id := mustUpload(t, e, "a build context with a Dockerfile")
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "train-env", Image: baseImage})
	mustEnvironment(t, e, api.EnvironmentSpec{Name: "build-env", Build: &api.BuildContext{Path: id}})
	tests := []struct {
		name string
		env  any
		res  *api.Resources
	}{
		{name: "registered", env: "azureml:train-env:1"},
		{name: "latest", env: "train-env@latest"},
		{name: "registered, needs a build", env: "build-env:1"},
		{name: "inline image", env: map[string]any{"image": baseImage}},
		{name: "inline image with container settings", env: map[string]any{"image": baseImage},
			res: &api.Resources{ShmSize: "1g", DockerArgs: "--ipc=host"}},
		// The CLI asks before it uploads, naming the build folder by a stand-in ID.
		{name: "inline build, not yet uploaded", env: map[string]any{"build": map[string]any{"path": standIn}}},
		{name: "inline conda", env: map[string]any{"image": baseImage, "conda_file": condaText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := api.JobSpec{Name: "train", Command: "python train.py", Environment: tt.env, Resources: tt.res}
			status, body := e.call(t, "POST", jobsPath+"?validate=true", e.admin, mustJSON(t, spec))
			if status != http.StatusNoContent || len(body) != 0 {
				t.Errorf("validate = %d %s, want 204 and no body", status, body)
			}
		})
	}
	wantNoJobs(t, e, "validating")
	wantEnvironments(t, e, "validating", "build-env:1", "train-env:1")
	if n := builds.Load(); n != 0 {
		t.Errorf("validating asked the builder %d times, want never", n)
	}
	// The name was never taken.
	if j := mustJob(t, e, api.JobSpec{Name: "train", Environment: "train-env:1"}); j.Name != "train" {
		t.Errorf("job after validating = %s, want train", j.Name)
	}
}
