package imagebuild

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/trainyard/trainyard"
)

// Queue is what the build loop reads and writes; *store.DB implements it.
type Queue interface {
	// ImagesToBuild lists the environments whose RunImage jobs in Preparing wait for.
	ImagesToBuild(ctx context.Context) ([]trainyard.Environment, error)
	StartBuild(ctx context.Context, image, buildLog string) error
	ImageReady(ctx context.Context, image, buildLog string) (int64, error)
	BuildFailed(ctx context.Context, image, buildLog, message string) (int64, error)
}

// Images finds and builds images; *Builder is the real one.
type Images interface {
	Exists(ctx context.Context, ref string) (bool, error)
	Build(ctx context.Context, e trainyard.Environment, out io.Writer) error
}

// Loop builds the images jobs wait for, one at a time, oldest job first, and moves the jobs
// on: to Queued when their image is ready, to Failed (EnvironmentBuildFailed) when its build
// fails. An image already on the engine is reused without a build.
type Loop struct {
	Queue  Queue
	Images Images
	LogDir string          // build logs, one file per build, named as the jobs record it
	Wake   <-chan struct{} // a job was submitted
	// Queued is called after jobs moved to Queued, so the autoscaler sees them at once.
	Queued  func()
	Timeout time.Duration // one build's limit; default 30 minutes
	Log     *slog.Logger
}

// Run works until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		l.Once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-l.Wake:
		case <-t.C:
		}
	}
}

// Once serves every image waited for now.
func (l *Loop) Once(ctx context.Context) {
	envs, err := l.Queue.ImagesToBuild(ctx)
	if err != nil {
		l.Log.Warn("listing images to build", "err", err)
		return
	}
	for _, e := range envs {
		if ctx.Err() != nil {
			return
		}
		l.serve(ctx, e)
	}
}

func (l *Loop) serve(ctx context.Context, e trainyard.Environment) {
	img := e.RunImage()
	ok, err := l.Images.Exists(ctx, img)
	if err != nil {
		// The engine is away: the jobs wait in Preparing and the next pass tries again.
		l.Log.Warn("cannot reach the Docker engine to build an image", "image", img, "err", err)
		return
	}
	if ok {
		l.ready(ctx, img, "")
		return
	}
	name := fmt.Sprintf("%s-%d", e.Hash()[:16], time.Now().UnixNano())
	if err := l.Queue.StartBuild(ctx, img, name); err != nil {
		l.Log.Warn("recording an image build", "image", img, "err", err)
		return
	}
	l.Log.Info("building image", "image", img, "environment", e.Workspace+"/"+e.Ref())
	err = l.build(ctx, e, name)
	if ctx.Err() != nil {
		return // the server is stopping; the jobs stay Preparing and the build runs again
	}
	if err != nil {
		msg := fmt.Sprintf("building the image of environment %s failed: %v; the build log leads the job's logs (trainyard job stream)", e.Ref(), err)
		n, qerr := l.Queue.BuildFailed(ctx, img, name, msg)
		l.Log.Warn("image build failed", "image", img, "environment", e.Ref(), "jobs_failed", n, "err", err, "store_err", qerr)
		return
	}
	l.ready(ctx, img, name)
}

func (l *Loop) ready(ctx context.Context, img, buildLog string) {
	n, err := l.Queue.ImageReady(ctx, img, buildLog)
	if err != nil {
		l.Log.Warn("queueing jobs after their image", "image", img, "err", err)
		return
	}
	if n > 0 && l.Queued != nil {
		l.Queued()
	}
}

func (l *Loop) build(ctx context.Context, e trainyard.Environment, name string) error {
	if err := os.MkdirAll(l.LogDir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.LogDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = l.Images.Build(bctx, e, f)
	if bctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = fmt.Errorf("the build ran past its limit of %s", timeout)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(f, "Image build stopped: the server is stopping; it builds the image again when it is back.")
	case err != nil:
		fmt.Fprintf(f, "Image build failed: %v\n", err)
	default:
		fmt.Fprintf(f, "Image %s built.\n", e.RunImage())
	}
	return err
}
