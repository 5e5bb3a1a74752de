-- Long-running operations on computes (SPEC §1.1, §5): create, update, delete, attach,
-- detach, start, stop, restart. status: InProgress | Succeeded | Failed | Canceled. An
-- operation ends in the transaction that settles its compute, and any still InProgress is
-- checked against its compute when the server starts.
CREATE TABLE operations (
	id            TEXT PRIMARY KEY,
	workspace     TEXT NOT NULL,
	compute       TEXT NOT NULL COLLATE NOCASE,
	kind          TEXT NOT NULL,
	status        TEXT NOT NULL,
	error_code    TEXT NOT NULL DEFAULT '',
	error_message TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	ended_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX operations_compute ON operations (workspace, compute, status);
