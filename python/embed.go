// Package python carries the Python helper that trainyard nodes place on a job's PYTHONPATH.
//
// The helper, trainyard_run.py, lets a training script record metrics with
// trainyard_run.log(name, value, step=...). It talks to the server's
// /v1/run/metrics endpoint using the TRAINYARD_API and TRAINYARD_RUN_TOKEN
// environment variables that every job receives, and only prints the metrics when
// they are unset. It needs nothing beyond the Python 3 standard library.
package python

import _ "embed"

// RunHelper is the source of trainyard_run.py, ready to be written into the
// directory a node adds to PYTHONPATH.
//
//go:embed trainyard_run.py
var RunHelper []byte
