package process

import (
	"os"
	"syscall"

	"github.com/trainyard/trainyard/internal/driver"
)

// wrapperScript leads the task's process group. It is run as
//
//	bash --posix -c wrapperScript trainyard-wrapper STATEDIR COMMAND
//
// --posix stops bash from sourcing $BASH_ENV (spec.Env may set it for the command); the script
// turns posix mode off again at once, along with errexit and nounset, which an exported
// SHELLOPTS could have turned on. The command runs in the foreground, so it gets default
// signal dispositions and stdin (async commands in a non-interactive shell ignore SIGINT and
// read /dev/null). A trapped signal is acted on only when the foreground command has ended,
// which is what we want: Stop signals the whole group, so the command already has it. The
// wrapper's own stderr is /dev/null while it waits, so bash's "Killed" report is not written to
// the task's log. The status is written with signals ignored, in one write of digits and a
// newline: a file cut short by a kill has no newline and counts as no status, so no rename
// (and no mv process per task) is needed.
//
// It first waits for "go" on fd 3, which Start writes once the wrapper's pid is recorded: an
// agent killed in between closes the pipe, and the command never runs, where it would have run
// unseen by anyone who stops the node's tasks by their recorded pids.
const wrapperScript = `set +o posix +eu
IFS= read -r go <&3
exec 3<&-
[ "$go" = go ] || exit 125
trap : TERM INT HUP
exec 3>&2 2>/dev/null
"$BASH" -c "$2" 2>&3 3>&-
s=$?
exec 2>&3 3>&-
trap '' TERM INT HUP
printf '%d\n' "$s" >"$1/exit"
exit "$s"
`

// wrapperArgs is the wrapper's argv for a task with the given absolute state dir and command.
func wrapperArgs(stateDir, command string) []string {
	return []string{"bash", "--posix", "-c", wrapperScript, "trainyard-wrapper", stateDir, command}
}

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// exitFromStatus turns a status as bash reports it into an Exit. Bash reports death by signal N
// as 128+N, which an exit status of 128+N cannot be told from; such statuses are taken to be
// signals, as bash's own callers must do.
func exitFromStatus(status int) driver.Exit {
	if status > 128 && status <= 128+maxSignal {
		return driver.Exit{Code: -1, Signal: status - 128}
	}
	return driver.Exit{Code: status}
}

// exitFromProcessState is how the wrapper itself ended, for when it recorded nothing: killed
// before it could (SIGKILL from Stop), or unable to write its state dir.
func exitFromProcessState(ps *os.ProcessState) driver.Exit {
	if ps == nil {
		return driver.Exit{Lost: true}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return driver.Exit{Lost: true}
	case ws.Signaled():
		return driver.Exit{Code: -1, Signal: int(ws.Signal())}
	case ws.Exited():
		return exitFromStatus(ws.ExitStatus())
	}
	return driver.Exit{Lost: true}
}
