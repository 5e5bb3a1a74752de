package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard/internal/driver"
)

// Names of the files in a task's StateDir; the package comment describes them.
const (
	stateFile = "container"
	exitFile  = "exit"
	lockFile  = "log.lock"
)

// state is what Start records for Reattach.
type state struct {
	Container string `json:"container"`  // the container's name
	LogOffset int64  `json:"log_offset"` // the log's size before the task wrote to it
}

// prepareStateDir makes dir ready for a new task: it exists and holds no exit status of an
// earlier one.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, exitFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

func writeState(dir string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, stateFile), append(b, '\n'))
}

// readState reads what writeState wrote. A missing file is an fs.ErrNotExist error.
func readState(dir string) (state, error) {
	var s state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Container == "" {
		return s, fmt.Errorf("state file %s: %q is not a container record", filepath.Join(dir, stateFile), b)
	}
	return s, nil
}

// writeExit records the container's exit code, atomically.
func writeExit(dir string, code int) error {
	return writeAtomic(filepath.Join(dir, exitFile), fmt.Appendf(nil, "%d\n", code))
}

// readExit reads the code writeExit recorded; ok is false when there is none.
func readExit(dir string) (code int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		return 0, false
	}
	code, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return code, err == nil
}

// writeAtomic writes path through a temporary file of its own, so that two agents recording the
// same exit never see, or leave, half a file.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// exitFromCode turns a container's exit code into an Exit. The wrapper and docker's init report
// death by signal N as 128+N, which an exit status of 128+N cannot be told from; such codes are
// taken to be signals, as the process driver does.
func exitFromCode(code int) driver.Exit {
	if code > 128 && code <= 128+maxSignal {
		return driver.Exit{Code: -1, Signal: code - 128}
	}
	return driver.Exit{Code: code}
}
