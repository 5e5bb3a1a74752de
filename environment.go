package trainyard

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
)

// Environment is one version of a named container environment (SPEC §3.11): an image to run
// as it is, a Docker build context, or conda dependencies on top of an image. Versions never
// change once created.
type Environment struct {
	Workspace   string
	Name        string
	Version     string
	Description string
	Tags        map[string]string

	Image string // base image; with CondaFile, the image the conda layer goes on
	// Context is the content hash of the uploaded build context (a snapshot), with the
	// Dockerfile's path inside it.
	Context    string
	Dockerfile string
	CondaFile  string // the conda YAML, as text

	CreatedAt time.Time
}

// AnonymousEnvironment names the environments registered for inline environments of jobs,
// one version per content hash, as the reference system's CLI does.
const AnonymousEnvironment = "CliV2AnonymousEnvironment"

// Hash is the image cache key: base image, build context, Dockerfile path and conda file.
// Name, version and description are left out, so equal content shares one image.
func (e Environment) Hash() string {
	h := sha256.New()
	for _, part := range []string{"image", e.Image, "context", e.Context, "dockerfile", e.Dockerfile, "conda", e.CondaFile} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// NeedsBuild reports whether running the environment takes an image built by trainyard;
// otherwise Image runs as it is.
func (e Environment) NeedsBuild() bool { return e.Context != "" || e.CondaFile != "" }

// RunImage is the image a job of this environment runs in.
func (e Environment) RunImage() string {
	if !e.NeedsBuild() {
		return e.Image
	}
	return "trainyard/env:" + e.Hash()[:24]
}

// Ref is NAME:VERSION.
func (e Environment) Ref() string { return e.Name + ":" + e.Version }

// The lengths are checked apart: a bounded repeat like {0,254} compiles to a program of 254
// copies, which every start of the binary (the CLI's too) would pay for.
var envAssetNameRE = lengthRE{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9\-_.]*$`), 255}

// CheckEnvironmentName enforces the name rule of environments, and keeps the reserved
// prefixes of curated environments out of users' hands.
func CheckEnvironmentName(name string) error {
	if !envAssetNameRE.MatchString(name) {
		return Errorf(Invalid, "environment name %q is not valid: 1 to 255 letters, digits, '-', '_' and '.', starting with a letter or digit", name)
	}
	for _, p := range []string{"AzureML-", "Microsoft"} {
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(p)) {
			return Errorf(Invalid, "environment name %q: names starting with %q are reserved for curated environments; choose another name", name, p)
		}
	}
	return nil
}

var envVersionRE = lengthRE{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9\-_.]*$`), 64}

// CheckEnvironmentVersion enforces the version rule.
func CheckEnvironmentVersion(v string) error {
	if !envVersionRE.MatchString(v) || v == "latest" {
		return Errorf(Invalid, "environment version %q is not valid: 1 to 64 letters, digits, '-', '_' and '.', starting with a letter or digit, and not \"latest\"", v)
	}
	return nil
}

// ParseEnvironmentRef reads a reference to a registered environment: NAME:VERSION or
// NAME@latest, each also written with the azureml: prefix. Version "" means the latest.
func ParseEnvironmentRef(ref string) (name, version string, err error) {
	s := strings.TrimPrefix(ref, "azureml:")
	if n, label, ok := strings.Cut(s, "@"); ok {
		if label != "latest" {
			return "", "", Errorf(Invalid, "environment %q: the only label is latest (NAME@latest); or give a version, NAME:VERSION", ref)
		}
		name = n
	} else if n, v, ok := strings.Cut(s, ":"); ok {
		name, version = n, v
		if err := CheckEnvironmentVersion(v); err != nil {
			return "", "", err
		}
	} else {
		return "", "", Errorf(Invalid, "environment %q: write NAME:VERSION or NAME@latest (the azureml: prefix is optional)", ref)
	}
	if !envAssetNameRE.MatchString(name) {
		return "", "", Errorf(Invalid, "environment %q: %q is not an environment name", ref, name)
	}
	return name, version, nil
}

// lengthRE matches strings of at most max bytes that match re.
type lengthRE struct {
	re  *regexp.Regexp
	max int
}

// MatchString reports whether v is short enough and matches.
func (l lengthRE) MatchString(v string) bool { return len(v) <= l.max && l.re.MatchString(v) }
