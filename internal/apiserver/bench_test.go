package apiserver_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/store"
)

// BenchmarkSubmit measures durable submits: 64 clients POST jobs at once over loopback HTTP
// to the real handler over a real SQLite store on disk; every 201 was committed
// (synchronous=FULL) before it was sent. It reports jobs/s for `make bench`.
func BenchmarkSubmit(b *testing.B) {
	const clients, perClient = 64, 100 // 6,400 jobs per iteration
	ctx := b.Context()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "trainyard.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	admin := store.NewToken("tya")
	if err := db.ReplaceAdmin(ctx, admin); err != nil {
		b.Fatal(err)
	}
	s := &apiserver.Server{Store: db, DataDir: b.TempDir(), DefaultLocation: "local",
		Sizes: func(loc string) ([]trainyard.VMSize, bool) { return trainyard.BuiltinSizes, loc == "local" },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	// Enough idle connections that the 64 clients keep theirs open, as real clients would.
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := api.NewClient(url, admin)
	c.HTTP = &http.Client{Transport: tr}
	maxNodes := 1_000_000
	if _, err := c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "bench", Type: "amlcompute", MaxInstances: &maxNodes}); err != nil {
		b.Fatal(err)
	}
	var done atomic.Int64
	var spent time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Go(func() {
				for range perClient {
					if _, err := c.CreateJob(ctx, "default", api.JobSpec{Command: "true", Compute: api.Named("bench")}); err != nil {
						errs <- err
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		spent += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(done.Load())/spent.Seconds(), "jobs/s")
}
