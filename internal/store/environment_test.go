package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
)

// mustEnv creates an environment and fails the test on an error.
func mustEnv(t *testing.T, db *DB, e trainyard.Environment) trainyard.Environment {
	t.Helper()
	got, err := db.CreateEnvironment(t.Context(), e)
	if err != nil {
		t.Fatalf("CreateEnvironment(%s/%s:%s) error: %v", e.Workspace, e.Name, e.Version, err)
	}
	return got
}

// condaEnv is an environment of workspace default whose image trainyard builds; equal conda
// files give equal images.
func condaEnv(name, version, conda string) trainyard.Environment {
	return trainyard.Environment{Workspace: "default", Name: name, Version: version, Image: "python:3.12", CondaFile: conda}
}

// waitingJob creates a job of workspace default that waits, Preparing with no node, for the
// image of e, as the API server records one.
func waitingJob(t *testing.T, db *DB, name string, e trainyard.Environment) JobRow {
	t.Helper()
	j := mustJobWith(t, db, trainyard.Job{
		Workspace: "default", Name: name, Compute: "gpu", Command: "python train.py", InstanceCount: 1,
		Status:         trainyard.JobPreparing,
		WaitReason:     trainyard.WaitBuildingImage + ": image " + e.RunImage() + " of environment " + e.Ref(),
		EnvironmentRef: e.Ref(), Image: e.RunImage(),
	})
	if j.Status != trainyard.JobPreparing || j.Node != "" {
		t.Fatalf("CreateJob(%s) waiting for an image = status %q node %q, want Preparing with no node", name, j.Status, j.Node)
	}
	return j
}

// refs lists the references of envs, for comparing lists of environments.
func refs(envs []trainyard.Environment) []string {
	out := []string{}
	for _, e := range envs {
		out = append(out, e.Workspace+"/"+e.Ref())
	}
	return out
}

func TestCreateEnvironmentVersions(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	// Each step runs on the store the steps before it left.
	steps := []struct {
		ws, name, version string
		want              string // the version created
		wantCode          trainyard.Code
	}{
		{ws: "default", name: "pytorch", want: "1"},
		{ws: "default", name: "pytorch", want: "2"},
		{ws: "default", name: "pytorch", want: "3"},
		{ws: "default", name: "pytorch", version: "7", want: "7"},
		{ws: "default", name: "pytorch", want: "8"},
		{ws: "default", name: "pytorch", version: "beta", want: "beta"},
		{ws: "default", name: "pytorch", want: "9"}, // non-numeric versions do not count
		{ws: "default", name: "pytorch", version: "2", wantCode: trainyard.Conflict},
		{ws: "default", name: "pytorch", version: "beta", wantCode: trainyard.Conflict},
		{ws: "default", name: "PyTorch", version: "3", wantCode: trainyard.Conflict}, // names ignore case
		{ws: "default", name: "PyTorch", want: "10"},
		{ws: "default", name: "tensorflow", want: "1"},
		{ws: "other", name: "pytorch", want: "1"},
		{ws: "other", name: "pytorch", version: "7", want: "7"},
	}
	for i, s := range steps {
		got, err := db.CreateEnvironment(ctx, trainyard.Environment{Workspace: s.ws, Name: s.name, Version: s.version, Image: "python:3.12"})
		if s.wantCode != "" {
			if codeOf(err) != s.wantCode {
				t.Errorf("step %d: CreateEnvironment(%s/%s:%s) = %+v, %v; want code %s", i, s.ws, s.name, s.version, got, err, s.wantCode)
			}
			continue
		}
		if err != nil {
			t.Errorf("step %d: CreateEnvironment(%s/%s:%s) error: %v", i, s.ws, s.name, s.version, err)
			continue
		}
		if got.Version != s.want || got.Workspace != s.ws {
			t.Errorf("step %d: CreateEnvironment(%s/%s:%s) = %s/%s, want %s/%s:%s", i, s.ws, s.name, s.version, got.Workspace, got.Ref(), s.ws, s.name, s.want)
		}
	}
	if _, err := db.CreateEnvironment(ctx, trainyard.Environment{Workspace: "default", Name: "pytorch", Version: "2"}); err == nil ||
		!strings.Contains(err.Error(), "pytorch:2") || !strings.Contains(err.Error(), "leave version out") {
		t.Errorf("CreateEnvironment(taken pytorch:2) error = %v, want one naming pytorch:2 and how to get the next version", err)
	}
}

func TestCreateEnvironmentKeepsFields(t *testing.T) {
	db := mustOpen(t)
	useClock(db, t0)
	in := trainyard.Environment{
		Workspace: "default", Name: "train", Description: "conda on python",
		Tags: map[string]string{"team": "vision"}, Image: "python:3.12",
		Context: "sha256:abc", Dockerfile: "docker/Dockerfile", CondaFile: "dependencies: [numpy]\n",
	}
	got := mustEnv(t, db, in)
	want := in
	want.Version, want.CreatedAt = "1", t0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateEnvironment() returned (-want +got):\n%s", diff)
	}
	read, err := db.Environment(t.Context(), "default", "train", "1")
	if err != nil {
		t.Fatalf("Environment(train, 1) error: %v", err)
	}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("Environment(train, 1) (-want +got):\n%s", diff)
	}
	if read.Hash() != in.Hash() {
		t.Errorf("Environment(train, 1).Hash() = %s, want %s (the content is unchanged)", read.Hash(), in.Hash())
	}
}

func TestCreateAnonymousEnvironmentTwice(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	anon := trainyard.Environment{Workspace: "default", Name: trainyard.AnonymousEnvironment, Image: "python:3.12", CondaFile: "dependencies: [numpy]\n"}
	anon.Version = anon.Hash()[:32] // as the API server names it
	first := mustEnv(t, db, anon)

	clk.Set(t0.Add(time.Hour))
	again := anon
	again.Description = "submitted again"
	got, err := db.CreateEnvironment(ctx, again)
	if err != nil {
		t.Fatalf("CreateEnvironment(anonymous, again) error: %v, want the existing one", err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("CreateEnvironment(anonymous, again) = a new one, want the first (-want +got):\n%s", diff)
	}
	all, err := db.Environments(ctx, "default", trainyard.AnonymousEnvironment)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("Environments(anonymous) = %v, want one version", refs(all))
	}

	// A named environment gets no such pass.
	named := anon
	named.Name = "named"
	mustEnv(t, db, named)
	if _, err := db.CreateEnvironment(ctx, named); codeOf(err) != trainyard.Conflict {
		t.Errorf("CreateEnvironment(named, same version again) error = %v, want conflict", err)
	}
}

func TestEnvironmentLookup(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	// Created in this order: the latest is the last created, not the highest version.
	for _, v := range []string{"10", "2", "beta"} {
		mustEnv(t, db, condaEnv("train", v, "v"+v))
	}
	mustEnv(t, db, condaEnv("numbered", "", "a"))
	mustEnv(t, db, condaEnv("numbered", "", "b"))
	mustEnv(t, db, condaEnv("numbered", "9", "c"))
	mustEnv(t, db, condaEnv("numbered", "", "d")) // 10
	mustEnv(t, db, condaEnv("named", "b", "b"))
	mustEnv(t, db, condaEnv("named", "a", "a"))

	tests := []struct {
		name, env, version string
		want               string // the ref found
		wantCode           trainyard.Code
		wantMsg            string // part of the error message
	}{
		{name: "by version", env: "train", version: "2", want: "train:2"},
		{name: "by other version", env: "train", version: "10", want: "train:10"},
		{name: "latest is the last created", env: "train", want: "train:beta"},
		{name: "latest of numbered versions", env: "numbered", want: "numbered:10"},
		{name: "latest of named versions", env: "named", want: "named:a"},
		{name: "name ignores case", env: "TRAIN", version: "2", want: "train:2"},
		{name: "missing version", env: "train", version: "3", wantCode: trainyard.NotFound, wantMsg: "environment train:3 not found"},
		{name: "version is case-sensitive", env: "train", version: "BETA", wantCode: trainyard.NotFound, wantMsg: "train:BETA"},
		{name: "missing name, latest", env: "nope", wantCode: trainyard.NotFound, wantMsg: "environment nope@latest not found"},
		{name: "missing name, version", env: "nope", version: "1", wantCode: trainyard.NotFound, wantMsg: "nope:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Environment(ctx, "default", tt.env, tt.version)
			if tt.wantCode != "" {
				if codeOf(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Environment(%s, %q) error = %v, want %s mentioning %q", tt.env, tt.version, err, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Environment(%s, %q) error: %v", tt.env, tt.version, err)
			}
			if got.Ref() != tt.want {
				t.Errorf("Environment(%s, %q) = %s, want %s", tt.env, tt.version, got.Ref(), tt.want)
			}
		})
	}
	if _, err := db.Environment(ctx, "other", "train", ""); codeOf(err) != trainyard.NotFound || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("Environment(other workspace) error = %v, want not_found naming the workspace", err)
	}
}

func TestEnvironments(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	mustEnv(t, db, condaEnv("b", "", "b1"))
	mustEnv(t, db, condaEnv("a", "", "a1"))
	mustEnv(t, db, condaEnv("a", "", "a2"))
	mustEnv(t, db, condaEnv("c", "9", "c9"))
	mustEnv(t, db, condaEnv("c", "x", "cx"))
	mustEnv(t, db, condaEnv("a", "0", "a0"))
	o := condaEnv("a", "", "other")
	o.Workspace = "other"
	mustEnv(t, db, o)

	tests := []struct {
		name, ws, env string
		want          []string
	}{
		{name: "latest of each name", ws: "default", want: []string{"default/a:0", "default/b:1", "default/c:x"}},
		{name: "versions of one name, newest first", ws: "default", env: "a", want: []string{"default/a:0", "default/a:2", "default/a:1"}},
		{name: "one version", ws: "default", env: "b", want: []string{"default/b:1"}},
		{name: "unknown name", ws: "default", env: "nope", want: []string{}},
		{name: "other workspace", ws: "other", want: []string{"other/a:1"}},
		{name: "empty workspace", ws: "empty", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Environments(ctx, tt.ws, tt.env)
			if err != nil {
				t.Fatalf("Environments(%s, %q) error: %v", tt.ws, tt.env, err)
			}
			if diff := cmp.Diff(tt.want, refs(got)); diff != "" {
				t.Errorf("Environments(%s, %q) (-want +got):\n%s", tt.ws, tt.env, diff)
			}
		})
	}
}

func TestImagesToBuild(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	a := mustEnv(t, db, condaEnv("a", "", "numpy"))
	b := mustEnv(t, db, condaEnv("b", "", "torch"))
	twinOfA := mustEnv(t, db, condaEnv("twin", "", "numpy")) // same content, same image as a
	if a.RunImage() != twinOfA.RunImage() || a.RunImage() == b.RunImage() {
		t.Fatalf("images: a %s, twin %s, b %s; want a and twin equal, b different", a.RunImage(), twinOfA.RunImage(), b.RunImage())
	}

	// Not waiting: a queued job and one placed on a node, both with an image.
	mustNode(t, db, "n-1", "default", "gpu")
	mustJobWith(t, db, trainyard.Job{Workspace: "default", Name: "placed", Compute: "gpu", Command: "x", InstanceCount: 1, EnvironmentRef: b.Ref(), Image: b.RunImage()})
	if p := mustPlace(t, db, "n-1"); p.Job.Name != "placed" || p.Job.Status != trainyard.JobPreparing {
		t.Fatalf("Place() = %s %s, want placed Preparing", p.Job.Name, p.Job.Status)
	}
	mustJobWith(t, db, trainyard.Job{Workspace: "default", Name: "queued", Compute: "cpu", Command: "x", InstanceCount: 1, EnvironmentRef: a.Ref(), Image: a.RunImage()})
	if got, err := db.ImagesToBuild(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ImagesToBuild() with no job waiting = %v, %v; want none", refs(got), err)
	}

	waitingJob(t, db, "b-1", b)
	waitingJob(t, db, "a-1", a)
	waitingJob(t, db, "twin-1", twinOfA)
	waitingJob(t, db, "b-2", b)

	// A job of another workspace waits for the same image as a.
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	o := condaEnv("o", "", "numpy")
	o.Workspace = "other"
	o = mustEnv(t, db, o)
	mustJobWith(t, db, trainyard.Job{Workspace: "other", Name: "o-1", Compute: "gpu", Command: "x", InstanceCount: 1,
		Status: trainyard.JobPreparing, EnvironmentRef: o.Ref(), Image: o.RunImage()})

	// list gives the images to build in order, checking that each comes with an environment
	// whose RunImage it is (any of them, when several share one).
	list := func() []string {
		t.Helper()
		envs, err := db.ImagesToBuild(ctx)
		if err != nil {
			t.Fatalf("ImagesToBuild() error: %v", err)
		}
		out := []string{}
		for _, e := range envs {
			switch e.RunImage() {
			case a.RunImage(), b.RunImage():
			default:
				t.Errorf("ImagesToBuild() gave %s/%s, whose image %s no job waits for", e.Workspace, e.Ref(), e.RunImage())
			}
			if e.Workspace == "" || e.CondaFile == "" {
				t.Errorf("ImagesToBuild() gave %+v, want the whole environment", e)
			}
			out = append(out, e.RunImage())
		}
		return out
	}
	// Oldest job first, one entry per image.
	if diff := cmp.Diff([]string{b.RunImage(), a.RunImage()}, list()); diff != "" {
		t.Errorf("ImagesToBuild() images (-want +got):\n%s", diff)
	}

	if n, err := db.ImageReady(ctx, b.RunImage(), ""); n != 2 || err != nil {
		t.Errorf("ImageReady(b) = %d, %v; want 2 jobs", n, err)
	}
	if diff := cmp.Diff([]string{a.RunImage()}, list()); diff != "" {
		t.Errorf("ImagesToBuild() after b was ready (-want +got):\n%s", diff)
	}
	// The image is shared: the jobs of both names and both workspaces move on together.
	if n, err := db.BuildFailed(ctx, a.RunImage(), "log-a", "no"); n != 3 || err != nil {
		t.Errorf("BuildFailed(a) = %d, %v; want 3 jobs", n, err)
	}
	if diff := cmp.Diff([]string{}, list()); diff != "" {
		t.Errorf("ImagesToBuild() after every job moved on (-want +got):\n%s", diff)
	}
}

func TestImageReady(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	x := mustEnv(t, db, condaEnv("x", "", "numpy"))
	y := mustEnv(t, db, condaEnv("y", "", "torch"))
	x1 := waitingJob(t, db, "x-1", x)
	x2 := waitingJob(t, db, "x-2", x)
	y1 := waitingJob(t, db, "y-1", y)
	gone := waitingJob(t, db, "x-canceled", x)
	if j, err := db.CancelJob(ctx, "default", gone.Name); err != nil || j.Status != trainyard.JobCanceled {
		t.Fatalf("CancelJob(waiting job) = %s, %v; want Canceled", j.Status, err)
	}

	if err := db.StartBuild(ctx, x.RunImage(), "log-x"); err != nil {
		t.Fatalf("StartBuild(x) error: %v", err)
	}
	for _, j := range []JobRow{x1, x2} {
		if got := mustJobByID(t, db, j.ID); got.BuildLog != "log-x" || got.Status != trainyard.JobPreparing {
			t.Errorf("job %s after StartBuild(x, log-x): status %s build log %q, want Preparing with log-x", j.Name, got.Status, got.BuildLog)
		}
	}
	x3 := waitingJob(t, db, "x-3", x) // came while the build ran

	n, err := db.ImageReady(ctx, x.RunImage(), "log-x")
	if n != 3 || err != nil {
		t.Errorf("ImageReady(x) = %d, %v; want 3 jobs queued", n, err)
	}
	for _, j := range []JobRow{x1, x2, x3} {
		got := mustJobByID(t, db, j.ID)
		if got.Status != trainyard.JobQueued || got.WaitReason != trainyard.WaitWaitingForNodes || got.BuildLog != "log-x" || got.Node != "" || got.Error != nil {
			t.Errorf("job %s after ImageReady(x): status %s wait %q build log %q node %q error %+v; want Queued, %s, log-x, no node, no error",
				j.Name, got.Status, got.WaitReason, got.BuildLog, got.Node, got.Error, trainyard.WaitWaitingForNodes)
		}
	}
	if got := mustJobByID(t, db, y1.ID); got.Status != trainyard.JobPreparing || got.WaitReason != y1.WaitReason || got.BuildLog != "" {
		t.Errorf("job of another image after ImageReady(x): status %s wait %q build log %q; want it untouched (Preparing, %q, no log)",
			got.Status, got.WaitReason, got.BuildLog, y1.WaitReason)
	}
	if got := mustJobByID(t, db, gone.ID); got.Status != trainyard.JobCanceled || got.BuildLog != "" {
		t.Errorf("canceled job after ImageReady(x): status %s build log %q; want Canceled, untouched", got.Status, got.BuildLog)
	}
	if n, err := db.ImageReady(ctx, x.RunImage(), "log-x"); n != 0 || err != nil {
		t.Errorf("ImageReady(x) again = %d, %v; want 0", n, err)
	}

	// The queued jobs are placeable now, oldest first.
	mustNode(t, db, "n-1", "default", "gpu")
	if a := mustPlace(t, db, "n-1"); a.Job.ID != x1.ID {
		t.Errorf("Place() after ImageReady = job %s, want %s", a.Job.Name, x1.Name)
	}
}

func TestImageReadyBuildLog(t *testing.T) {
	tests := []struct {
		name      string
		started   string // the log StartBuild named; "" for no StartBuild
		ready     string // the log given to ImageReady
		wantLog   string
		wantCount int64
	}{
		{name: "image was there", ready: "", wantLog: ""},
		{name: "built", started: "log-1", ready: "log-1", wantLog: "log-1"},
		{name: "came during the build", ready: "log-1", wantLog: "log-1"},
		{name: "an earlier build's log is kept", started: "log-0", ready: "log-1", wantLog: "log-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			e := mustEnv(t, db, condaEnv("e", "", "numpy"))
			j := waitingJob(t, db, "j", e)
			if tt.started != "" {
				if err := db.StartBuild(ctx, e.RunImage(), tt.started); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := db.ImageReady(ctx, e.RunImage(), tt.ready); n != 1 || err != nil {
				t.Fatalf("ImageReady(%q) = %d, %v; want 1", tt.ready, n, err)
			}
			if got := mustJobByID(t, db, j.ID); got.BuildLog != tt.wantLog {
				t.Errorf("build log after StartBuild(%q), ImageReady(%q) = %q, want %q", tt.started, tt.ready, got.BuildLog, tt.wantLog)
			}
		})
	}
}

func TestBuildFailed(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	x := mustEnv(t, db, condaEnv("x", "", "numpy"))
	y := mustEnv(t, db, condaEnv("y", "", "torch"))
	x1 := waitingJob(t, db, "x-1", x)
	if err := db.StartBuild(ctx, x.RunImage(), "log-x"); err != nil {
		t.Fatal(err)
	}
	x2 := waitingJob(t, db, "x-2", x) // came while the build ran
	y1 := waitingJob(t, db, "y-1", y)

	t1 := t0.Add(5 * time.Minute)
	clk.Set(t1)
	const msg = "building the image of environment x:1 failed: exit 1"
	if n, err := db.BuildFailed(ctx, x.RunImage(), "log-x", msg); n != 2 || err != nil {
		t.Errorf("BuildFailed(x) = %d, %v; want 2 jobs failed", n, err)
	}
	for _, j := range []JobRow{x1, x2} {
		got := mustJobByID(t, db, j.ID)
		want := &trainyard.JobError{Code: trainyard.ErrEnvironmentBuildFailed, Message: msg}
		if diff := cmp.Diff(want, got.Error); diff != "" {
			t.Errorf("job %s error after BuildFailed (-want +got):\n%s", j.Name, diff)
		}
		if got.Status != trainyard.JobFailed || got.WaitReason != "" || got.BuildLog != "log-x" || !got.EndedAt.Equal(t1) || got.ExitCode != nil {
			t.Errorf("job %s after BuildFailed: status %s wait %q build log %q ended %v exit %v; want Failed, no wait reason, log-x, ended %v, no exit code",
				j.Name, got.Status, got.WaitReason, got.BuildLog, got.EndedAt, got.ExitCode, t1)
		}
	}
	if got := mustJobByID(t, db, y1.ID); got.Status != trainyard.JobPreparing || got.Error != nil || got.BuildLog != "" || !got.EndedAt.IsZero() {
		t.Errorf("job of another image after BuildFailed(x): status %s error %+v build log %q ended %v; want it untouched",
			got.Status, got.Error, got.BuildLog, got.EndedAt)
	}
	if n, err := db.BuildFailed(ctx, x.RunImage(), "log-x", msg); n != 0 || err != nil {
		t.Errorf("BuildFailed(x) again = %d, %v; want 0", n, err)
	}
	if _, err := db.CancelJob(ctx, "default", x1.Name); codeOf(err) != trainyard.Conflict {
		t.Errorf("CancelJob(failed job) error = %v, want conflict: it has ended", err)
	}
}
