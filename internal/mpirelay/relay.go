// Package mpirelay lets Open MPI's mpirun, on rank 0 of a multi-node job, start its daemons on
// the job's other nodes without SSH: trainyard itself is mpirun's remote-shell agent (Dial,
// as `trainyard agent mpi-rsh HOST COMMAND`), and each other rank runs a listener (Serve, as
// `trainyard agent mpi-worker`) that runs the command it is sent, in that node's code folder,
// and sends back its output and exit status. A per-job secret, which only the job's ranks
// hold, opens the listener.
package mpirelay

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// request is what Dial sends first, as one line of JSON.
type request struct {
	Secret  string `json:"secret"`
	Command string `json:"command"`
}

// Frames after the request: a kind byte, a big-endian length, the data.
const (
	frameOut  = 1
	frameErr  = 2
	frameExit = 3 // data: the exit status, 4 bytes
)

// Serve runs, for each connection that presents secret, its command with sh -c in dir, until
// ctx ends (the rank's job is stopped) or ln fails. It then closes ln and stops what the
// commands started, with grace between SIGTERM and SIGKILL; call BecomeSubreaper first so that
// daemons among them are stopped too.
func Serve(ctx context.Context, ln net.Listener, secret, dir string, grace time.Duration) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer stopDescendants(grace)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serveOne(c, secret, dir)
	}
}

func serveOne(c net.Conn, secret, dir string) {
	defer c.Close()
	line, err := bufio.NewReader(io.LimitReader(c, 1<<20)).ReadBytes('\n')
	var req request
	if err != nil || json.Unmarshal(line, &req) != nil ||
		subtle.ConstantTimeCompare([]byte(req.Secret), []byte(secret)) != 1 || secret == "" {
		return // not one of the job's ranks: say nothing
	}
	cmd := exec.Command("/bin/sh", "-c", req.Command)
	cmd.Dir = dir
	var mu sync.Mutex
	send := func(kind byte, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		hdr := [5]byte{kind}
		binary.BigEndian.PutUint32(hdr[1:], uint32(len(b)))
		c.Write(hdr[:])
		c.Write(b)
	}
	cmd.Stdout = frameWriter{frameOut, send}
	cmd.Stderr = frameWriter{frameErr, send}
	status := 0
	if err := cmd.Run(); err != nil {
		status = 127
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			status = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				status = 128 + int(ws.Signal())
			}
		} else {
			send(frameErr, []byte("mpi-worker: "+err.Error()+"\n"))
		}
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(status))
	send(frameExit, b[:])
}

type frameWriter struct {
	kind byte
	send func(byte, []byte)
}

func (w frameWriter) Write(p []byte) (int, error) {
	w.send(w.kind, p)
	return len(p), nil
}

// Dial runs command on the listener at addr, copying its output to stdout and stderr, and
// returns its exit status.
func Dial(addr, secret, command string, stdout, stderr io.Writer) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	line, _ := json.Marshal(request{Secret: secret, Command: command})
	if _, err := c.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("the worker at %s ended the connection before its command ended (a wrong secret, or its rank stopped): %w", addr, err)
		}
		data := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(r, data); err != nil {
			return 0, err
		}
		switch hdr[0] {
		case frameOut:
			stdout.Write(data)
		case frameErr:
			stderr.Write(data)
		case frameExit:
			return int(binary.BigEndian.Uint32(data)), nil
		}
	}
}
