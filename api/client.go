package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to a trainyard server.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7878
	Token   string
	HTTP    *http.Client
}

// NewClient returns a client for the server at baseURL with a bearer token.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{}}
}

// IsNotFound reports whether err is an API error with code not_found.
func IsNotFound(err error) bool { return HasCode(err, "not_found") }

// HasCode reports whether err is an API error with the given code.
func HasCode(err error, code string) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == code
}

// Do sends a request with an optional JSON body (or io.Reader) and decodes a JSON answer into
// out when out is not nil. Non-2xx answers become *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Stream sends a request and returns the raw answer body; the caller closes it.
func (c *Client) Stream(ctx context.Context, method, path string, body any) (*http.Response, error) {
	return c.send(ctx, method, path, body)
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r, ctype = b, "application/octet-stream"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		r, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the trainyard server at %s: %w", c.BaseURL, unwrapURL(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error = Error{Code: "internal", Message: fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)}
		}
		eb.Error.Status = resp.StatusCode
		return nil, &eb.Error
	}
	return resp, nil
}

func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func ws(workspace string) string { return "/v1/workspaces/" + url.PathEscape(workspace) }

// CreateCompute creates a compute target.
func (c *Client) CreateCompute(ctx context.Context, workspace string, spec ComputeSpec) (Compute, error) {
	var out Compute
	err := c.Do(ctx, "POST", ws(workspace)+"/computes", spec, &out)
	return out, err
}

// Compute returns one compute target.
func (c *Client) Compute(ctx context.Context, workspace, name string) (Compute, error) {
	var out Compute
	err := c.Do(ctx, "GET", ws(workspace)+"/computes/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Computes lists the compute targets of a workspace.
func (c *Client) Computes(ctx context.Context, workspace string) ([]Compute, error) {
	var out struct{ Value []Compute }
	err := c.Do(ctx, "GET", ws(workspace)+"/computes", nil, &out)
	return out.Value, err
}

// AttachCompute records an attached target (virtualmachine, kubernetes, …); it is the same
// request as CreateCompute, whose type decides.
func (c *Client) AttachCompute(ctx context.Context, workspace string, spec ComputeSpec) (Compute, error) {
	return c.CreateCompute(ctx, workspace, spec)
}

// DeleteCompute starts deleting a managed compute target and its nodes.
func (c *Client) DeleteCompute(ctx context.Context, workspace, name string) (Compute, error) {
	var out Compute
	err := c.Do(ctx, "DELETE", ws(workspace)+"/computes/"+url.PathEscape(name)+"?action=Delete", nil, &out)
	return out, err
}

// DetachCompute removes the record of an attached compute target; the machine or service it
// names is not touched.
func (c *Client) DetachCompute(ctx context.Context, workspace, name string) error {
	return c.Do(ctx, "DELETE", ws(workspace)+"/computes/"+url.PathEscape(name)+"?action=Detach", nil, nil)
}

// PowerCompute starts, stops or restarts a compute instance: action is "start", "stop" or
// "restart".
func (c *Client) PowerCompute(ctx context.Context, workspace, name, action string) (Compute, error) {
	var out Compute
	err := c.Do(ctx, "POST", ws(workspace)+"/computes/"+url.PathEscape(name)+"/"+url.PathEscape(action), nil, &out)
	return out, err
}

// Nodes lists the nodes of a cluster.
func (c *Client) Nodes(ctx context.Context, workspace, name string) ([]Node, error) {
	var out struct{ Value []Node }
	err := c.Do(ctx, "GET", ws(workspace)+"/computes/"+url.PathEscape(name)+"/nodes", nil, &out)
	return out.Value, err
}

// Sizes lists the VM sizes of a location ("" for the default).
func (c *Client) Sizes(ctx context.Context, location string) ([]VMSize, error) {
	var out struct{ Value []VMSize }
	err := c.Do(ctx, "GET", "/v1/vmsizes?location="+url.QueryEscape(location), nil, &out)
	return out.Value, err
}

// UploadSnapshot stores a code snapshot (a gzipped tar) and returns its ID.
func (c *Client) UploadSnapshot(ctx context.Context, workspace string, r io.Reader) (Snapshot, error) {
	var out Snapshot
	err := c.Do(ctx, "POST", ws(workspace)+"/snapshots", r, &out)
	return out, err
}

// CreateJob submits a job.
func (c *Client) CreateJob(ctx context.Context, workspace string, spec JobSpec) (Job, error) {
	var out Job
	err := c.Do(ctx, "POST", ws(workspace)+"/jobs", spec, &out)
	return out, err
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, workspace, name string) (Job, error) {
	var out Job
	err := c.Do(ctx, "GET", ws(workspace)+"/jobs/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Jobs lists jobs, newest first; compute and status may be empty.
func (c *Client) Jobs(ctx context.Context, workspace, compute, status string, limit int) ([]Job, error) {
	q := url.Values{}
	if compute != "" {
		q.Set("compute", compute)
	}
	if status != "" {
		q.Set("status", status)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct{ Value []Job }
	err := c.Do(ctx, "GET", ws(workspace)+"/jobs?"+q.Encode(), nil, &out)
	return out.Value, err
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, workspace, name string) (Job, error) {
	var out Job
	err := c.Do(ctx, "POST", ws(workspace)+"/jobs/"+url.PathEscape(name)+"/cancel", nil, &out)
	return out, err
}

// PreemptNode takes back a node of a low-priority cluster, as the platform would; its job
// runs again elsewhere.
func (c *Client) PreemptNode(ctx context.Context, workspace, id, reason string) (PreemptResponse, error) {
	var out PreemptResponse
	err := c.Do(ctx, "POST", ws(workspace)+"/nodes/"+url.PathEscape(id)+"/preempt", PreemptRequest{Reason: reason}, &out)
	return out, err
}

// Metrics returns a job's metric series.
func (c *Client) Metrics(ctx context.Context, workspace, name string) ([]Metric, error) {
	var out struct{ Value []Metric }
	err := c.Do(ctx, "GET", ws(workspace)+"/jobs/"+url.PathEscape(name)+"/metrics", nil, &out)
	return out.Value, err
}

// LogChunk is part of a job's log.
type LogChunk struct {
	Data   []byte
	Next   int64  // offset to ask for next
	Status string // the job's status when the chunk was read
}

// Logs reads a job's log from offset, waiting up to wait for new bytes when there are none.
func (c *Client) Logs(ctx context.Context, workspace, name string, offset int64, wait time.Duration) (LogChunk, error) {
	return c.RankLogs(ctx, workspace, name, -1, offset, wait)
}

// RankLogs reads one rank's own log of a multi-node job, as Logs reads the whole; rank -1 is
// the whole.
func (c *Client) RankLogs(ctx context.Context, workspace, name string, rank int, offset int64, wait time.Duration) (LogChunk, error) {
	return c.AttemptLogs(ctx, workspace, name, 0, rank, offset, wait)
}

// AttemptLogs reads the log of one attempt of a job (from 1; 0 is the whole log across
// attempts), of one rank (-1: every rank), as Logs reads the whole.
func (c *Client) AttemptLogs(ctx context.Context, workspace, name string, attempt, rank int, offset int64, wait time.Duration) (LogChunk, error) {
	path := fmt.Sprintf("%s/jobs/%s/logs?offset=%d&wait_ms=%d", ws(workspace), url.PathEscape(name), offset, wait.Milliseconds())
	if rank >= 0 {
		path += fmt.Sprintf("&rank=%d", rank)
	}
	if attempt > 0 {
		path += fmt.Sprintf("&attempt=%d", attempt)
	}
	resp, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		return LogChunk{}, err
	}
	defer resp.Body.Close()
	data, err := ReadSized(resp.Body, resp.ContentLength)
	if err != nil {
		return LogChunk{}, err
	}
	return LogChunk{Data: data, Next: offset + int64(len(data)), Status: resp.Header.Get("Trainyard-Job-Status")}, nil
}

// Outputs returns a job's outputs as a gzipped tar; the caller closes it.
func (c *Client) Outputs(ctx context.Context, workspace, name string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", ws(workspace)+"/jobs/"+url.PathEscape(name)+"/outputs", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Checkpoint returns the last checkpoint of a job as a tar.gz stream; close it. NotFound when
// the job saved none.
func (c *Client) Checkpoint(ctx context.Context, workspace, name string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", ws(workspace)+"/jobs/"+url.PathEscape(name)+"/checkpoint", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Sync is the agent's heartbeat and lease.
func (c *Client) Sync(ctx context.Context, req SyncRequest) (SyncResponse, error) {
	var out SyncResponse
	err := c.Do(ctx, "POST", "/v1/agent/sync", req, &out)
	return out, err
}

// UpdateCompute changes a compute's scale settings, tags or description.
func (c *Client) UpdateCompute(ctx context.Context, workspace, name string, u ComputeUpdate) (Compute, error) {
	var out Compute
	err := c.Do(ctx, "PATCH", ws(workspace)+"/computes/"+url.PathEscape(name), u, &out)
	return out, err
}

// Events returns a compute's events after the event with ID after, oldest first.
func (c *Client) Events(ctx context.Context, workspace, name string, after int64) ([]Event, error) {
	var out struct{ Value []Event }
	err := c.Do(ctx, "GET", fmt.Sprintf("%s/computes/%s/events?after=%d", ws(workspace), url.PathEscape(name), after), nil, &out)
	return out.Value, err
}

// Usage lists the quota pools of a workspace in a location with usage and limits.
func (c *Client) Usage(ctx context.Context, workspace, location string) ([]Usage, error) {
	var out struct{ Value []Usage }
	err := c.Do(ctx, "GET", ws(workspace)+"/locations/"+url.PathEscape(location)+"/usages", nil, &out)
	return out.Value, err
}

// SetQuota sets a workspace's core limit for a pool in a location.
func (c *Client) SetQuota(ctx context.Context, workspace, location string, q QuotaUpdate) ([]Usage, error) {
	var out struct{ Value []Usage }
	err := c.Do(ctx, "PUT", ws(workspace)+"/locations/"+url.PathEscape(location)+"/quotas", q, &out)
	return out.Value, err
}

// Operation returns a long-running operation by ID (the operation field of a compute, or the
// Azure-AsyncOperation header of the answer that began it).
func (c *Client) Operation(ctx context.Context, id string) (Operation, error) {
	var out Operation
	err := c.Do(ctx, "GET", "/v1/operations/"+url.PathEscape(id), nil, &out)
	return out, err
}

// CreateEnvironment registers an environment version.
func (c *Client) CreateEnvironment(ctx context.Context, workspace string, spec EnvironmentSpec) (Environment, error) {
	var out Environment
	err := c.Do(ctx, "POST", ws(workspace)+"/environments", spec, &out)
	return out, err
}

// Environment returns one version of an environment; version "" is the latest.
func (c *Client) Environment(ctx context.Context, workspace, name, version string) (Environment, error) {
	if version == "" {
		version = "latest"
	}
	var out Environment
	err := c.Do(ctx, "GET", ws(workspace)+"/environments/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version), nil, &out)
	return out, err
}

// Environments lists the latest version of each environment, or every version of name.
func (c *Client) Environments(ctx context.Context, workspace, name string) ([]Environment, error) {
	var out struct{ Value []Environment }
	err := c.Do(ctx, "GET", ws(workspace)+"/environments?name="+url.QueryEscape(name), nil, &out)
	return out.Value, err
}

// ReadSized reads r to its end. When size is known (an HTTP Content-Length, -1 if not), it
// reads into one buffer of that size, where io.ReadAll would grow one by copying, twice the
// bytes of a large log chunk.
func ReadSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	var more [1]byte
	if n, _ := r.Read(more[:]); n > 0 {
		return nil, fmt.Errorf("more than the %d bytes announced", size)
	}
	return data, nil
}
