-- Container environments (SPEC §3.11): immutable versions, each with its image's content hash.
-- build_context is the snapshot hash of an uploaded Docker build context.
CREATE TABLE environments (
	workspace     TEXT NOT NULL,
	name          TEXT NOT NULL COLLATE NOCASE,
	version       TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	tags          TEXT NOT NULL DEFAULT '{}',
	image         TEXT NOT NULL DEFAULT '',
	build_context TEXT NOT NULL DEFAULT '',
	dockerfile    TEXT NOT NULL DEFAULT '',
	conda_file    TEXT NOT NULL DEFAULT '',
	hash          TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	seq           INTEGER NOT NULL, -- creation order within the name, for NAME@latest
	PRIMARY KEY (workspace, name, version)
);

-- The container a job runs in. A job waiting for its image is Preparing with no node.
ALTER TABLE jobs ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN image TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN shm_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN docker_args TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN build_log TEXT NOT NULL DEFAULT '';
