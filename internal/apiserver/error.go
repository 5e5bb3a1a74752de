package apiserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// statusOf is the only code→HTTP status table.
var statusOf = map[trainyard.Code]int{
	trainyard.Invalid:         http.StatusBadRequest,
	trainyard.Unauthenticated: http.StatusUnauthorized,
	trainyard.Forbidden:       http.StatusForbidden,
	trainyard.NotFound:        http.StatusNotFound,
	trainyard.Conflict:        http.StatusConflict,
	trainyard.TooLarge:        http.StatusRequestEntityTooLarge,
	trainyard.Unavailable:     http.StatusServiceUnavailable,
	trainyard.Internal:        http.StatusInternalServerError,
}

// writeError answers with the one error body. Internal errors are logged with the request ID
// and their cause; the caller sees only "internal error" and the ID.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := trainyard.ErrorCode(err)
	id := requestID(r)
	msg := trainyard.ErrorMessage(err)
	if code == trainyard.Internal {
		log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error (request " + id + "); the server log has the details"
	}
	writeJSON(w, statusOf[code], api.ErrorBody{Error: api.Error{Code: string(code), Message: msg, RequestID: id}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func newRequestID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "r-" + hex.EncodeToString(b)
}

func requestID(r *http.Request) string {
	if id, ok := r.Context().Value(ctxRequestID{}).(string); ok {
		return id
	}
	return ""
}

type ctxRequestID struct{}

// decode reads a JSON body into v, refusing unknown fields so a misspelt key is never ignored.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	dec.UseNumber() // numbers in free-form values (inputs) keep every digit
	if err := dec.Decode(v); err != nil {
		return &trainyard.Error{Code: trainyard.Invalid, Message: "invalid JSON body: " + err.Error(), Err: err}
	}
	return nil
}
