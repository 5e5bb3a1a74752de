package mpirelay

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// BecomeSubreaper makes the calling process the parent of every orphan among its
// descendants. Open MPI's orted daemonizes (a new session, its parent gone), so without this a
// stopped relay would leave orted and the job's processes behind, which no process group of
// the job reaches.
func BecomeSubreaper() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return e
	}
	return nil
}

// stopDescendants ends every child of this process and, as a subreaper, every descendant
// that becomes one: SIGTERM to each child and its process group, SIGKILL to what is left after
// grace. It returns once no child is left, or after another second of SIGKILL.
func stopDescendants(grace time.Duration) {
	deadline := time.Now().Add(grace)
	sig := syscall.SIGTERM
	sent := map[int]syscall.Signal{}
	for end := deadline.Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		kids := children()
		if len(kids) == 0 {
			return
		}
		for _, pid := range kids {
			if zombie(pid) {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
				continue
			}
			if sent[pid] == sig {
				continue
			}
			sent[pid] = sig
			syscall.Kill(pid, sig)
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
				syscall.Kill(-pid, sig)
			}
		}
	}
}

// children lists the processes whose parent is this one.
func children() []int {
	self := os.Getpid()
	var pids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		if ppid, _, ok := readStat(path); ok && ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			pids = append(pids, pid)
		}
	}
	return pids
}

func zombie(pid int) bool {
	_, state, ok := readStat("/proc/" + strconv.Itoa(pid) + "/stat")
	return ok && state == "Z"
}

// readStat reads a process's parent and state from /proc/PID/stat: "pid (comm) state ppid ...",
// where comm may hold spaces and parentheses, so the fields start after the last ')'.
func readStat(path string) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}
