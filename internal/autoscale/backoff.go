package autoscale

import (
	"log/slog"
	"time"
)

const (
	maxBackoff  = 5 * time.Minute // longest wait between retries of a failing target
	errLogEvery = time.Minute     // a repeated error is logged at most this often per target
)

// errLog rate-limits the logging of repeated errors.
type errLog struct {
	msg        string
	at         time.Time
	suppressed int
}

// report logs err unless the same message was logged less than errLogEvery ago, and says
// whether it logged.
func (l *errLog) report(log *slog.Logger, now time.Time, what string, err error, args ...any) bool {
	msg := err.Error()
	if msg == l.msg && now.Sub(l.at) < errLogEvery {
		l.suppressed++
		return false
	}
	if l.suppressed > 0 {
		args = append(args, "repeated", l.suppressed)
	}
	log.Error(what+" failed", append(args, "err", err)...)
	l.msg, l.at, l.suppressed = msg, now, 0
	return true
}

// recover logs once that a failing operation works again.
func (l *errLog) recover(log *slog.Logger, what string) {
	if l.msg == "" {
		return
	}
	log.Info(what + " recovered")
	*l = errLog{}
}

// backoff is the wait after the nth consecutive failure: base, doubling, at most maxBackoff.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
