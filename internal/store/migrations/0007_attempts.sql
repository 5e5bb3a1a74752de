-- Jobs run again, as attempt n+1, when a node of theirs is preempted or lost (and after a
-- failure of their command when retry_on_failure is set), up to max_retries times.
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN max_retries INTEGER NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN retry_on_failure INTEGER NOT NULL DEFAULT 0;
-- Where attempt's log starts in std_log.txt (log_attempt is the attempt it belongs to): each
-- attempt's agent counts its log from 0, and the job's log runs on across attempts.
ALTER TABLE jobs ADD COLUMN log_attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN log_base INTEGER NOT NULL DEFAULT 0;

-- One row per attempt, written when it is placed. nodes: its node IDs, rank 0 first, comma
-- separated. cause: the error code that ended it ('' while it runs, or when it completed).
CREATE TABLE job_attempts (
	job_id     INTEGER NOT NULL,
	attempt    INTEGER NOT NULL,
	nodes      TEXT NOT NULL,
	started_at INTEGER NOT NULL,
	ended_at   INTEGER NOT NULL DEFAULT 0,
	cause      TEXT NOT NULL DEFAULT '',
	message    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (job_id, attempt)
);

-- When a low-priority node was preempted (node state 'preempted'); 0 otherwise.
ALTER TABLE nodes ADD COLUMN preempted_at INTEGER NOT NULL DEFAULT 0;
