package process

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the files in a task's StateDir; the package comment describes them.
const (
	pidFile  = "pid"
	exitFile = "exit"
)

// procStat is what the driver needs from /proc/PID/stat.
type procStat struct {
	state byte   // R, S, D, Z, ...
	start uint64 // start time in clock ticks since boot: with the pid, names one process
}

// readProcStat reads /proc/pid/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses the text of /proc/PID/stat. Field 2, the command name, is in parentheses
// and may itself hold spaces and parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("parse proc stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:])) // fields[0] is field 3, state
	const startField = 22 - 3
	if len(fields) <= startField || len(fields[0]) != 1 {
		return procStat{}, errors.New("parse proc stat: too few fields")
	}
	start, err := strconv.ParseUint(fields[startField], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse proc stat: start time: %w", err)
	}
	return procStat{state: fields[0][0], start: start}, nil
}

// gone reports whether the process has exited: a zombie has exited, it just waits to be reaped.
func (s procStat) gone() bool { return s.state == 'Z' || s.state == 'X' || s.state == 'x' }

// prepareStateDir makes dir ready for a new task: it exists, holds no task that still runs, and
// holds no exit status of an earlier one.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if pid, start, err := readPidFile(dir); err == nil {
		if st, err := readProcStat(pid); err == nil && st.start == start && !st.gone() {
			return fmt.Errorf("state dir %s: a task is still running there as pid %d", dir, pid)
		}
	}
	for _, name := range []string{exitFile, "exit.tmp"} { // exit.tmp: of older wrappers
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	return nil
}

// writePidFile records the wrapper's pid and start time, atomically.
func writePidFile(dir string, pid int, start uint64) error {
	path := filepath.Join(dir, pidFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", pid, start), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readPidFile reads what writePidFile wrote. A missing file is an fs.ErrNotExist error.
func readPidFile(dir string) (pid int, start uint64, err error) {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("pid file %s: want \"PID STARTTIME\", got %q", dir, b)
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("pid file %s: bad pid %q", dir, f[0])
	}
	start, err = strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("pid file %s: bad start time %q", dir, f[1])
	}
	return pid, start, nil
}

// readExitFile reads the status the wrapper recorded; ok is false when there is none, or only
// part of one: the wrapper ends it with a newline.
func readExitFile(dir string) (status int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
		return 0, false
	}
	status, err = strconv.Atoi(string(bytes.TrimSuffix(b, []byte("\n"))))
	if err != nil || status < 0 || status > 255 {
		return 0, false
	}
	return status, true
}
