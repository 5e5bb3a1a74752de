-- The first schema. Times are Unix milliseconds, UTC; 0 means unset.
CREATE TABLE workspaces (
	name       TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL
);

-- Bearer tokens, stored only as SHA-256 hashes. kind: admin | join | node | run.
CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	subject    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE INDEX tokens_subject ON tokens (kind, subject);

CREATE TABLE computes (
	workspace    TEXT NOT NULL REFERENCES workspaces (name),
	name         TEXT NOT NULL COLLATE NOCASE,
	type         TEXT NOT NULL,
	location     TEXT NOT NULL,
	size         TEXT NOT NULL,
	tier         TEXT NOT NULL,
	min_nodes    INTEGER NOT NULL,
	max_nodes    INTEGER NOT NULL,
	idle_seconds INTEGER NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	tags         TEXT NOT NULL DEFAULT '{}',
	state        TEXT NOT NULL,
	errors       TEXT NOT NULL DEFAULT '[]',
	created_at   INTEGER NOT NULL,
	modified_at  INTEGER NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE nodes (
	id            TEXT PRIMARY KEY,
	workspace     TEXT NOT NULL,
	compute       TEXT NOT NULL COLLATE NOCASE,
	state         TEXT NOT NULL,
	job_id        INTEGER NOT NULL DEFAULT 0,
	address       TEXT NOT NULL DEFAULT '',
	port          INTEGER NOT NULL DEFAULT 0,
	slots         INTEGER NOT NULL DEFAULT 1,
	created_at    INTEGER NOT NULL,
	registered_at INTEGER NOT NULL DEFAULT 0,
	last_seen     INTEGER NOT NULL DEFAULT 0,
	idle_since    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX nodes_compute ON nodes (workspace, compute);

CREATE TABLE jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	workspace       TEXT NOT NULL REFERENCES workspaces (name),
	name            TEXT NOT NULL,
	display_name    TEXT NOT NULL DEFAULT '',
	experiment_name TEXT NOT NULL DEFAULT '',
	description     TEXT NOT NULL DEFAULT '',
	tags            TEXT NOT NULL DEFAULT '{}',
	compute         TEXT NOT NULL COLLATE NOCASE,
	command         TEXT NOT NULL,
	env             TEXT NOT NULL DEFAULT '{}',
	snapshot        TEXT NOT NULL DEFAULT '',
	timeout_ms      INTEGER NOT NULL DEFAULT 0,
	instance_count  INTEGER NOT NULL DEFAULT 1,
	spec            TEXT NOT NULL DEFAULT '{}',
	status          TEXT NOT NULL,
	wait_reason     TEXT NOT NULL DEFAULT '',
	node            TEXT NOT NULL DEFAULT '',
	exit_code       INTEGER,
	error_code      TEXT NOT NULL DEFAULT '',
	error_message   TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	started_at      INTEGER NOT NULL DEFAULT 0,
	ended_at        INTEGER NOT NULL DEFAULT 0,
	UNIQUE (workspace, name)
);
CREATE INDEX jobs_queue ON jobs (status, workspace, compute, id);

CREATE TABLE metrics (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id INTEGER NOT NULL REFERENCES jobs (id),
	name   TEXT NOT NULL,
	step   INTEGER,
	value  REAL NOT NULL,
	time   INTEGER NOT NULL
);
CREATE INDEX metrics_job ON metrics (job_id, name, seq);

CREATE TABLE events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	workspace TEXT NOT NULL,
	compute   TEXT NOT NULL COLLATE NOCASE,
	time      INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	message   TEXT NOT NULL
);
CREATE INDEX events_compute ON events (workspace, compute, id);

INSERT INTO workspaces (name, created_at) VALUES ('default', CAST(strftime('%s','now') AS INTEGER) * 1000);
