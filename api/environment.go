package api

import "time"

// EnvironmentSpec is an environment as an Azure ML v2 environment YAML writes it, and the
// body of environment create. In a file, build.path is a folder and conda_file a file, both
// relative to the YAML; on the wire build.path is the ID of the uploaded build context and
// conda_file the conda YAML's text (the CLI turns one into the other).
type EnvironmentSpec struct {
	Schema      string            `json:"$schema,omitempty"`
	Name        string            `json:"name,omitempty"`
	Version     string            `json:"version,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Image       string            `json:"image,omitempty"`
	Build       *BuildContext     `json:"build,omitempty"`
	// CondaFile is a path in a file, a mapping written inline, or the text on the wire.
	CondaFile any    `json:"conda_file,omitempty"`
	OSType    string `json:"os_type,omitempty"`
	// Documented keys this server does not act on; an environment that sets them is refused.
	InferenceConfig any `json:"inference_config,omitempty"`
}

// BuildContext is a Docker build context and the Dockerfile in it.
type BuildContext struct {
	Path           string `json:"path"`
	DockerfilePath string `json:"dockerfile_path,omitempty"`
}

// Environment is one version of an environment as the API returns it.
type Environment struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Workspace   string            `json:"workspace"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Image       string            `json:"image,omitempty"`
	Build       *BuildContext     `json:"build,omitempty"`
	CondaFile   string            `json:"conda_file,omitempty"`
	// Hash is the content hash the image is cached by; RunImage the image jobs run in.
	Hash     string    `json:"hash"`
	RunImage string    `json:"runImage"`
	Built    *bool     `json:"built,omitempty"` // whether RunImage is on the engine; absent when unknown
	Created  time.Time `json:"createdAt"`
}
