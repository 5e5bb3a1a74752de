-- Every compute kind as a record. properties holds what only some kinds have, as JSON, and
-- never a credential: ssh (admin user, public key), instance (power, idle shutdown), attach
-- (resource id, address, port, user, namespace, slurmrestd URL). secrets holds the kind's
-- credentials (passwords, private keys, access tokens, kubeconfigs) as one JSON object sealed
-- with AES-256-GCM under the data dir's secret.key; '' when there are none.
ALTER TABLE computes ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
ALTER TABLE computes ADD COLUMN secrets TEXT NOT NULL DEFAULT '';
