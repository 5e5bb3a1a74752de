package apiserver

import (
	"net/http"
	"net/url"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// showOperation answers GET /v1/operations/{id}: where a create, update, delete, attach,
// detach, start, stop or restart stands (SPEC §1.1, §5). Like every route it answers a user
// token; the operation's workspace must exist, as a workspace route checks its own.
func (s *Server) showOperation(w http.ResponseWriter, r *http.Request) error {
	op, err := s.Store.Operation(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Store.CheckWorkspace(r.Context(), op.Workspace); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, operationOut(op))
	return nil
}

// announce names the operation a request began in the headers SDKs poll
// (Azure-AsyncOperation) and in Location. Call it before writing the answer.
func announce(w http.ResponseWriter, r *http.Request, op trainyard.Operation) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + "/v1/operations/" + url.PathEscape(op.ID)
	w.Header().Set("Azure-AsyncOperation", u)
	w.Header().Set("Location", u)
}

// operationOut converts an operation to the wire shape.
func operationOut(op trainyard.Operation) *api.Operation {
	out := &api.Operation{ID: op.ID, Workspace: op.Workspace, Compute: op.Compute, Kind: string(op.Kind),
		Status: string(op.Status), CreatedAt: op.CreatedAt}
	if op.Error != nil {
		out.Error = &api.OperationError{Code: op.Error.Code, Message: op.Error.Message}
	}
	if !op.EndedAt.IsZero() {
		out.EndedAt = &op.EndedAt
	}
	return out
}

// writeOperation answers a call that started op on compute c: the compute, with the operation
// in its body and its URL in the headers.
func (s *Server) writeOperation(w http.ResponseWriter, r *http.Request, c trainyard.ComputeTarget, op trainyard.Operation, status int) error {
	out, err := s.computeOut(r, c)
	if err != nil {
		return err
	}
	out.Operation = operationOut(op)
	announce(w, r, op)
	writeJSON(w, status, out)
	return nil
}
