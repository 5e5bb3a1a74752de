-- The queued multi-node jobs of a compute, apart: Demand counts the queue on jobs_queue alone
-- and adds what these want beyond one node, without reading every queued row.
CREATE INDEX jobs_queued_gangs ON jobs (status, workspace, compute) WHERE instance_count > 1;
