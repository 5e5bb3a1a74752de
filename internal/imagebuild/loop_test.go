package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
)

// recorder keeps, in order, the calls the fakes saw, as "method image [log]" lines.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.events...)
}

// fakeQueue is a Queue that lists envs on every pass and records what the loop tells it.
type fakeQueue struct {
	rec *recorder

	mu       sync.Mutex
	envs     []trainyard.Environment
	listErr  error
	startErr error
	readyErr error
	moved    int64 // what ImageReady and BuildFailed report
	passes   int
	logs     []string // the build logs StartBuild named
	messages []string // the messages BuildFailed got
}

func (q *fakeQueue) ImagesToBuild(ctx context.Context) ([]trainyard.Environment, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.passes++
	return append([]trainyard.Environment{}, q.envs...), q.listErr
}

func (q *fakeQueue) StartBuild(ctx context.Context, image, buildLog string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.logs = append(q.logs, buildLog)
	q.rec.add("start %s %s", image, buildLog)
	return q.startErr
}

func (q *fakeQueue) ImageReady(ctx context.Context, image, buildLog string) (int64, error) {
	q.rec.add("ready %s %s", image, buildLog)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.readyErr != nil {
		return 0, q.readyErr
	}
	return q.moved, nil
}

func (q *fakeQueue) BuildFailed(ctx context.Context, image, buildLog, message string) (int64, error) {
	q.rec.add("failed %s %s", image, buildLog)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.messages = append(q.messages, message)
	return q.moved, nil
}

func (q *fakeQueue) get() (passes int, logs, messages []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.passes, append([]string{}, q.logs...), append([]string{}, q.messages...)
}

// fakeImages is an engine: images in have exist, and build makes the rest.
type fakeImages struct {
	rec       *recorder
	have      map[string]bool
	existsErr error
	build     func(ctx context.Context, e trainyard.Environment, out io.Writer) error
}

func (f *fakeImages) Exists(ctx context.Context, ref string) (bool, error) {
	f.rec.add("exists %s", ref)
	return f.have[ref], f.existsErr
}

func (f *fakeImages) Build(ctx context.Context, e trainyard.Environment, out io.Writer) error {
	f.rec.add("build %s", e.RunImage())
	if f.build == nil {
		return nil
	}
	return f.build(ctx, e, out)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is an environment whose image trainyard builds; different conda files give different
// images.
func env(name, version, conda string) trainyard.Environment {
	return trainyard.Environment{Workspace: "default", Name: name, Version: version, Image: "python:3.12", CondaFile: conda}
}

// writes returns a build that writes text and returns err.
func writes(text string, err error) func(context.Context, trainyard.Environment, io.Writer) error {
	return func(_ context.Context, _ trainyard.Environment, out io.Writer) error {
		io.WriteString(out, text)
		return err
	}
}

// hangs returns a build that writes text and then runs until its context ends.
func hangs(text string) func(context.Context, trainyard.Environment, io.Writer) error {
	return func(ctx context.Context, _ trainyard.Environment, out io.Writer) error {
		io.WriteString(out, text)
		<-ctx.Done()
		return ctx.Err()
	}
}

func TestServe(t *testing.T) {
	e := env("train", "3", "dependencies: [numpy]\n")
	img := e.RunImage()
	tests := []struct {
		name      string
		have      bool
		existsErr error
		startErr  error
		readyErr  error
		moved     int64
		badLogDir bool // LogDir cannot be made
		timeout   time.Duration
		build     func(context.Context, trainyard.Environment, io.Writer) error

		// wantEvents are the calls made, in order; LOG stands for the build log StartBuild named.
		wantEvents  []string
		wantQueued  int
		wantMsg     []string // parts of the message BuildFailed got
		wantLog     string   // the whole build log file; "" for none
		wantElapsed time.Duration
	}{
		{
			name: "image exists", have: true, moved: 2,
			wantEvents: []string{"exists " + img, "ready " + img + " "},
			wantQueued: 1,
		},
		{
			name: "image exists, no job left to move", have: true, moved: 0,
			wantEvents: []string{"exists " + img, "ready " + img + " "},
		},
		{
			name: "build succeeds", moved: 3,
			build:      writes("Step 1/2 : FROM python:3.12\nStep 2/2 : RUN conda env update\n", nil),
			wantEvents: []string{"exists " + img, "start " + img + " LOG", "build " + img, "ready " + img + " LOG"},
			wantQueued: 1,
			wantLog:    "Step 1/2 : FROM python:3.12\nStep 2/2 : RUN conda env update\nImage " + img + " built.\n",
		},
		{
			name: "build succeeds, queueing fails", moved: 3, readyErr: errors.New("database is locked"),
			build:      writes("ok\n", nil),
			wantEvents: []string{"exists " + img, "start " + img + " LOG", "build " + img, "ready " + img + " LOG"},
			wantLog:    "ok\nImage " + img + " built.\n",
		},
		{
			name: "build fails", moved: 2,
			build:      writes("Step 2/2 : RUN conda env update\nResolvePackageNotFound: numpyy\n", errors.New("the command exited with code 1")),
			wantEvents: []string{"exists " + img, "start " + img + " LOG", "build " + img, "failed " + img + " LOG"},
			wantMsg:    []string{"environment train:3", "the command exited with code 1", "trainyard job stream"},
			wantLog:    "Step 2/2 : RUN conda env update\nResolvePackageNotFound: numpyy\nImage build failed: the command exited with code 1\n",
		},
		{
			name: "engine away", existsErr: errors.New("cannot connect to the Docker daemon"),
			build:      writes("", nil),
			wantEvents: []string{"exists " + img},
		},
		{
			name: "recording the build fails", startErr: errors.New("database is locked"),
			build:      writes("", nil),
			wantEvents: []string{"exists " + img, "start " + img + " LOG"},
		},
		{
			name: "log directory unusable", badLogDir: true,
			build:      writes("", nil),
			wantEvents: []string{"exists " + img, "start " + img + " LOG", "failed " + img + " LOG"},
			wantMsg:    []string{"environment train:3", "trainyard job stream"},
		},
		{
			name: "build runs past its limit", timeout: time.Minute,
			build:       hangs("Step 1/2 : FROM python:3.12\n"),
			wantEvents:  []string{"exists " + img, "start " + img + " LOG", "build " + img, "failed " + img + " LOG"},
			wantMsg:     []string{"environment train:3", "ran past its limit of 1m0s", "trainyard job stream"},
			wantLog:     "Step 1/2 : FROM python:3.12\nImage build failed: the build ran past its limit of 1m0s\n",
			wantElapsed: time.Minute,
		},
		{
			name:        "build runs past the default limit",
			build:       hangs(""),
			wantEvents:  []string{"exists " + img, "start " + img + " LOG", "build " + img, "failed " + img + " LOG"},
			wantMsg:     []string{"ran past its limit of 30m0s"},
			wantLog:     "Image build failed: the build ran past its limit of 30m0s\n",
			wantElapsed: 30 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				q := &fakeQueue{rec: rec, envs: []trainyard.Environment{e}, startErr: tt.startErr, readyErr: tt.readyErr, moved: tt.moved}
				logDir := filepath.Join(t.TempDir(), "builds")
				if tt.badLogDir {
					file := filepath.Join(t.TempDir(), "file")
					if err := os.WriteFile(file, nil, 0o600); err != nil {
						t.Fatal(err)
					}
					logDir = filepath.Join(file, "builds")
				}
				queued := 0
				l := &Loop{
					Queue: q, Images: &fakeImages{rec: rec, have: map[string]bool{img: tt.have}, existsErr: tt.existsErr, build: tt.build},
					LogDir: logDir, Queued: func() { queued++ }, Timeout: tt.timeout, Log: discard(),
				}
				start := time.Now()
				l.Once(t.Context())
				if elapsed := time.Since(start); elapsed != tt.wantElapsed {
					t.Errorf("Once() took %v, want %v", elapsed, tt.wantElapsed)
				}

				_, logs, messages := q.get()
				name := ""
				if len(logs) > 0 {
					name = logs[0]
					if prefix := e.Hash()[:16] + "-"; !strings.HasPrefix(name, prefix) {
						t.Errorf("StartBuild() named log %q, want it to start with %q", name, prefix)
					}
				}
				var got []string
				for _, ev := range rec.get() {
					if name != "" {
						ev = strings.ReplaceAll(ev, name, "LOG")
					}
					got = append(got, ev)
				}
				if diff := cmp.Diff(tt.wantEvents, got); diff != "" {
					t.Errorf("calls made by Once() (-want +got):\n%s", diff)
				}
				if queued != tt.wantQueued {
					t.Errorf("Queued called %d times, want %d", queued, tt.wantQueued)
				}

				if len(tt.wantMsg) == 0 && len(messages) > 0 {
					t.Errorf("BuildFailed messages = %q, want none", messages)
				}
				if len(tt.wantMsg) > 0 {
					if len(messages) != 1 {
						t.Fatalf("BuildFailed messages = %q, want one", messages)
					}
					for _, part := range tt.wantMsg {
						if !strings.Contains(messages[0], part) {
							t.Errorf("BuildFailed message = %q, want it to mention %q", messages[0], part)
						}
					}
				}

				if tt.badLogDir {
					return
				}
				entries, _ := os.ReadDir(logDir)
				if tt.wantLog == "" {
					if len(entries) > 0 {
						t.Errorf("log directory holds %d files, want none", len(entries))
					}
					return
				}
				data, err := os.ReadFile(filepath.Join(logDir, name+".log"))
				if err != nil {
					t.Fatalf("reading the build log named %q: %v", name, err)
				}
				if diff := cmp.Diff(tt.wantLog, string(data)); diff != "" {
					t.Errorf("build log %s (-want +got):\n%s", name, diff)
				}
			})
		})
	}
}

func TestOnceServesImagesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		there, ok, bad := env("there", "1", "a"), env("ok", "1", "b"), env("bad", "1", "c")
		rec := &recorder{}
		q := &fakeQueue{rec: rec, envs: []trainyard.Environment{there, ok, bad}, moved: 1}
		images := &fakeImages{rec: rec, have: map[string]bool{there.RunImage(): true},
			build: func(ctx context.Context, e trainyard.Environment, out io.Writer) error {
				if e.Name == "bad" {
					return errors.New("no")
				}
				return nil
			}}
		queued := 0
		l := &Loop{Queue: q, Images: images, LogDir: t.TempDir(), Queued: func() { queued++ }, Log: discard()}
		l.Once(t.Context())

		_, logs, _ := q.get()
		if len(logs) != 2 || logs[0] == logs[1] {
			t.Fatalf("StartBuild() logs = %q, want two different ones", logs)
		}
		want := []string{
			"exists " + there.RunImage(), "ready " + there.RunImage() + " ",
			"exists " + ok.RunImage(), "start " + ok.RunImage() + " " + logs[0], "build " + ok.RunImage(), "ready " + ok.RunImage() + " " + logs[0],
			"exists " + bad.RunImage(), "start " + bad.RunImage() + " " + logs[1], "build " + bad.RunImage(), "failed " + bad.RunImage() + " " + logs[1],
		}
		if diff := cmp.Diff(want, rec.get()); diff != "" {
			t.Errorf("calls made by Once() (-want +got):\n%s", diff)
		}
		if queued != 2 {
			t.Errorf("Queued called %d times, want 2 (one per image made ready)", queued)
		}
	})
}

func TestOnceListError(t *testing.T) {
	rec := &recorder{}
	q := &fakeQueue{rec: rec, envs: []trainyard.Environment{env("e", "1", "a")}, listErr: errors.New("database is locked")}
	l := &Loop{Queue: q, Images: &fakeImages{rec: rec}, LogDir: t.TempDir(), Log: discard()}
	l.Once(t.Context())
	if got := rec.get(); len(got) != 0 {
		t.Errorf("Once() with ImagesToBuild failing made calls %q, want none", got)
	}
}

func TestOnceStopsWhenServerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, second := env("first", "1", "a"), env("second", "1", "b")
		rec := &recorder{}
		q := &fakeQueue{rec: rec, envs: []trainyard.Environment{first, second}, moved: 1}
		ctx, cancel := context.WithCancel(t.Context())
		images := &fakeImages{rec: rec, build: func(ctx context.Context, e trainyard.Environment, out io.Writer) error {
			cancel() // the server stops mid-build
			return ctx.Err()
		}}
		queued := 0
		l := &Loop{Queue: q, Images: images, LogDir: t.TempDir(), Queued: func() { queued++ }, Log: discard()}
		l.Once(ctx)

		_, logs, messages := q.get()
		if len(logs) != 1 {
			t.Fatalf("StartBuild() logs = %q, want one", logs)
		}
		want := []string{"exists " + first.RunImage(), "start " + first.RunImage() + " " + logs[0], "build " + first.RunImage()}
		if diff := cmp.Diff(want, rec.get()); diff != "" {
			t.Errorf("calls made by Once() stopped mid-build (-want +got):\n%s; want the jobs left waiting and the next image untouched", diff)
		}
		if len(messages) != 0 || queued != 0 {
			t.Errorf("after a stop mid-build: BuildFailed messages %q, Queued %d times; want none", messages, queued)
		}
	})
}

func TestRunPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		q := &fakeQueue{rec: rec}
		wake := make(chan struct{}, 1)
		l := &Loop{Queue: q, Images: &fakeImages{rec: rec}, LogDir: t.TempDir(), Wake: wake, Log: discard()}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			l.Run(ctx)
			close(done)
		}()
		passes := func() int {
			synctest.Wait()
			n, _, _ := q.get()
			return n
		}
		start := time.Now()
		if n := passes(); n != 1 {
			t.Errorf("passes at start = %d, want 1", n)
		}

		wake <- struct{}{}
		if n := passes(); n != 2 {
			t.Errorf("passes after a wake = %d, want 2", n)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the pass after a wake came after %v, want at once", d)
		}

		time.Sleep(2*time.Second - time.Millisecond)
		if n := passes(); n != 2 {
			t.Errorf("passes just before the first tick = %d, want 2", n)
		}
		time.Sleep(time.Millisecond)
		if n := passes(); n != 3 {
			t.Errorf("passes at 2s with no wake = %d, want 3", n)
		}
		time.Sleep(2 * time.Second)
		if n := passes(); n != 4 {
			t.Errorf("passes at 4s with no wake = %d, want 4", n)
		}

		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run() still running after its context ended")
		}
		time.Sleep(10 * time.Second)
		if n := passes(); n != 4 {
			t.Errorf("passes after Run returned = %d, want still 4", n)
		}
	})
}

func TestRunStopsMidBuild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := env("e", "1", "a")
		rec := &recorder{}
		q := &fakeQueue{rec: rec, envs: []trainyard.Environment{e}, moved: 1}
		l := &Loop{Queue: q, Images: &fakeImages{rec: rec, build: hangs("building\n")}, LogDir: t.TempDir(), Log: discard()}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			l.Run(ctx)
			close(done)
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run() still running after its context ended mid-build")
		}
		_, logs, messages := q.get()
		if len(logs) != 1 {
			t.Fatalf("StartBuild() logs = %q, want one build", logs)
		}
		want := []string{"exists " + e.RunImage(), "start " + e.RunImage() + " " + logs[0], "build " + e.RunImage()}
		if diff := cmp.Diff(want, rec.get()); diff != "" {
			t.Errorf("calls made by Run() stopped mid-build (-want +got):\n%s", diff)
		}
		if len(messages) != 0 {
			t.Errorf("BuildFailed messages after a stop = %q, want none: the jobs wait for the next start", messages)
		}
	})
}
