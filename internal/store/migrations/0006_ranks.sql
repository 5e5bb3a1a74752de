-- Multi-node jobs (resources.instance_count > 1): every node of the gang holds one rank. Rank 0
-- is the job's own node (jobs.node); each node row points at the job (nodes.job_id) while its
-- rank runs. state: placed (sent, not started yet), running, finalizing, done.
CREATE TABLE job_ranks (
	job_id    INTEGER NOT NULL,
	rank      INTEGER NOT NULL,
	node      TEXT NOT NULL,
	state     TEXT NOT NULL,
	exit_code INTEGER,
	PRIMARY KEY (job_id, rank)
);
CREATE INDEX job_ranks_node ON job_ranks (node, state);

-- The distribution block, as JSON of trainyard.Distribution; '' for a plain job.
ALTER TABLE jobs ADD COLUMN distribution TEXT NOT NULL DEFAULT '';
-- A placed gang's first port (MASTER_PORT); rank r may listen on master_port + r.
ALTER TABLE jobs ADD COLUMN master_port INTEGER NOT NULL DEFAULT 0;
-- The secret of a placed gang's MPI relay, sealed.
ALTER TABLE jobs ADD COLUMN gang_secret TEXT NOT NULL DEFAULT '';
