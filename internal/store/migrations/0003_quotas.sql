-- Core limits a workspace set for itself in a location, by pool (a VM family or lowPriority).
CREATE TABLE quotas (
	workspace TEXT NOT NULL REFERENCES workspaces (name),
	location  TEXT NOT NULL,
	pool      TEXT NOT NULL,
	cores     INTEGER NOT NULL,
	PRIMARY KEY (workspace, location, pool)
);
