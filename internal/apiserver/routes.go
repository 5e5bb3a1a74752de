package apiserver

import (
	"net/http"

	"github.com/trainyard/trainyard"
)

// Kinds of token a route accepts.
const (
	authNone = ""     // health check only
	authUser = "user" // a user's token
	authJoin = "join" // a new node's one-time join token
	authNode = "node" // a registered node's token
	authRun  = "run"  // a running job's token
)

type route struct {
	method, pattern string
	auth            string
	handle          func(w http.ResponseWriter, r *http.Request) error
}

// routes is every endpoint of the API.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", authNone, s.health},

		{"GET", "/v1/workspaces", authUser, s.listWorkspaces},
		{"POST", "/v1/workspaces", authUser, s.createWorkspace},
		{"GET", "/v1/vmsizes", authUser, s.listSizes},

		{"GET", "/v1/workspaces/{ws}/computes", authUser, s.listComputes},
		{"POST", "/v1/workspaces/{ws}/computes", authUser, s.createCompute}, // create or attach, by type
		{"GET", "/v1/workspaces/{ws}/computes/{name}", authUser, s.showCompute},
		{"DELETE", "/v1/workspaces/{ws}/computes/{name}", authUser, s.deleteCompute}, // ?action=Delete|Detach
		{"POST", "/v1/workspaces/{ws}/computes/{name}/start", authUser, s.powerCompute(trainyard.ActionStart)},
		{"POST", "/v1/workspaces/{ws}/computes/{name}/stop", authUser, s.powerCompute(trainyard.ActionStop)},
		{"POST", "/v1/workspaces/{ws}/computes/{name}/restart", authUser, s.powerCompute(trainyard.ActionRestart)},
		{"PATCH", "/v1/workspaces/{ws}/computes/{name}", authUser, s.updateCompute},
		{"GET", "/v1/workspaces/{ws}/computes/{name}/nodes", authUser, s.listNodes},
		{"GET", "/v1/workspaces/{ws}/computes/{name}/events", authUser, s.listEvents},
		{"POST", "/v1/workspaces/{ws}/checkComputeNameAvailability", authUser, s.checkComputeName},
		{"POST", "/v1/workspaces/{ws}/nodes/{id}/preempt", authUser, s.preemptNode},
		{"GET", "/v1/operations/{id}", authUser, s.showOperation}, // create, update, delete, attach, start, stop, restart

		{"GET", "/v1/workspaces/{ws}/locations/{loc}/usages", authUser, s.listUsage},
		{"PUT", "/v1/workspaces/{ws}/locations/{loc}/quotas", authUser, s.setQuota},

		{"POST", "/v1/workspaces/{ws}/snapshots", authUser, s.uploadSnapshot},
		{"GET", "/v1/workspaces/{ws}/environments", authUser, s.listEnvironments}, // ?name= lists its versions
		{"POST", "/v1/workspaces/{ws}/environments", authUser, s.createEnvironment},
		{"GET", "/v1/workspaces/{ws}/environments/{name}/versions/{version}", authUser, s.showEnvironment}, // version "latest" is the newest
		{"GET", "/v1/workspaces/{ws}/jobs", authUser, s.listJobs},
		{"POST", "/v1/workspaces/{ws}/jobs", authUser, s.createJob},
		{"GET", "/v1/workspaces/{ws}/jobs/{name}", authUser, s.showJob},
		{"POST", "/v1/workspaces/{ws}/jobs/{name}/cancel", authUser, s.cancelJob},
		{"GET", "/v1/workspaces/{ws}/jobs/{name}/logs", authUser, s.jobLogs},
		{"GET", "/v1/workspaces/{ws}/jobs/{name}/outputs", authUser, s.jobOutputs},
		{"GET", "/v1/workspaces/{ws}/jobs/{name}/checkpoint", authUser, s.jobCheckpoint},
		{"GET", "/v1/workspaces/{ws}/jobs/{name}/metrics", authUser, s.jobMetrics},

		{"POST", "/v1/run/metrics", authRun, s.logMetrics},

		{"POST", "/v1/agent/register", authJoin, s.register},
		{"POST", "/v1/agent/sync", authNode, s.sync},
		{"GET", "/v1/agent/jobs/{id}/snapshot", authNode, s.agentSnapshot},
		{"POST", "/v1/agent/jobs/{id}/status", authNode, s.agentStatus},
		{"POST", "/v1/agent/jobs/{id}/logs", authNode, s.agentLogs},
		{"PUT", "/v1/agent/jobs/{id}/outputs", authNode, s.agentOutputs},
		{"GET", "/v1/agent/jobs/{id}/checkpoint", authNode, s.agentCheckpointGet},
		{"PUT", "/v1/agent/jobs/{id}/checkpoint", authNode, s.agentCheckpointPut},
		{"POST", "/v1/agent/jobs/{id}/finish", authNode, s.agentFinish},
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
