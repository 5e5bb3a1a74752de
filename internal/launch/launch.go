// Package launch starts the processes of one node of a multi-process job (distribution
// process_count_per_instance > 1), as `trainyard agent launch`: each process gets its own
// LOCAL_RANK and RANK, and every line it writes goes to the node's output tagged with its
// global rank, "[process R] ", which the server splits into the job's per-process logs. The
// first process to fail ends the others; the node's status is the first failure's, or 0.
package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Tag is what starts every line of process rank in the node's output.
func Tag(rank int) string { return "[process " + strconv.Itoa(rank) + "] " }

// Run starts procs copies of command with bash -c; first is the global rank of the first.
// It returns the exit status the node reports.
func Run(command string, procs, first int, out io.Writer) int {
	var mu sync.Mutex // one line at a time
	closed := false   // set once Run returns: out is no longer written
	type result struct{ rank, status int }
	results := make(chan result, procs)
	cmds := make([]*exec.Cmd, procs)
	var wg sync.WaitGroup
	for i := range procs {
		rank := first + i
		cmd := exec.Command("bash", "-c", command)
		cmd.Env = append(os.Environ(), "LOCAL_RANK="+strconv.Itoa(i), "RANK="+strconv.Itoa(rank))
		r, w, err := os.Pipe()
		if err != nil {
			fmt.Fprintf(out, "launch: %v\n", err)
			return 1
		}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(out, "launch: start process %d: %v\n", rank, err)
			return 1
		}
		w.Close()
		cmds[i] = cmd
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				mu.Lock()
				if !closed {
					fmt.Fprintf(out, "%s%s\n", Tag(rank), sc.Bytes())
				}
				mu.Unlock()
			}
			r.Close()
		}()
		go func() {
			err := cmd.Wait()
			results <- result{rank, exitStatus(err)}
		}()
	}
	// The processes share the launcher's process group, so the driver's stop (SIGTERM, then
	// SIGKILL, to the group) reaches them and all they started, and so does its ending of
	// what the launcher leaves running when it exits. SIGTERM to the launcher alone is
	// passed on.
	stop := func() {
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	status := 0
	stopped := false // the node was told to stop: its processes' ends are no failures
	for left := procs; left > 0; {
		select {
		case res := <-results:
			left--
			if res.status != 0 && status == 0 {
				status = res.status
				if !stopped {
					mu.Lock()
					fmt.Fprintf(out, "trainyard: process %d exited with code %d; stopping this node's other processes\n", res.rank, res.status)
					mu.Unlock()
				}
				stop() // a failed process ends its node's others
			}
		case <-signals:
			stopped = true
			stop()
		}
	}
	// Their output is in once its pipes close; a child they left running may hold one open.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	return status
}

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}
