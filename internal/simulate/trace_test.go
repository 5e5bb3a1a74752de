package simulate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
)

func TestReadTrace(t *testing.T) {
	start := time.Date(2017, 10, 9, 6, 13, 3, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want Trace
	}{
		{
			name: "philly, sorted by submit, relative to the first",
			in: "timestamp,duration,num_gpus,gpu_time,cluster\n" +
				"2017-10-09 07:01:55,66.0,1,66.0,11cb48\n" +
				"2017-10-09 06:13:03,2951.0,8,23608.0,6214e9\n" +
				"2017-10-09 06:13:03,1.5,2,3.0,6214e9\n",
			want: Trace{Format: Philly, Start: start, Jobs: []Job{
				{Line: 3, Submit: 0, Duration: 2951 * time.Second, GPUs: 8},
				{Line: 4, Submit: 0, Duration: 1500 * time.Millisecond, GPUs: 2},
				{Line: 2, Submit: 48*time.Minute + 52*time.Second, Duration: 66 * time.Second, GPUs: 1},
			}},
		},
		{
			name: "philly bad rows are skipped with their line and why",
			in: "timestamp,duration,num_gpus,gpu_time,cluster\n" +
				"2017-10-09 06:13:03,,1,,6214e9\n" +
				"2017-10-09 06:13:03,0,1,0,6214e9\n" +
				"2017-10-09 06:13:03,0.0,1,0,6214e9\n" +
				"yesterday,60,1,60,6214e9\n" +
				"2017-10-09 06:13:03,60,0,0,6214e9\n" +
				"2017-10-09 06:13:03,60,1.5,90,6214e9\n" +
				"2017-10-09 06:13:03,-5,1,-5,6214e9\n" +
				"2017-10-09 06:13:03,sixty,1,60,6214e9\n" +
				"2017-10-09 06:13:03,60,1\n" +
				"2017-10-09 06:13:03,60,4,240,6214e9\n",
			want: Trace{Format: Philly, Start: start, Jobs: []Job{{Line: 11, Duration: time.Minute, GPUs: 4}},
				Skipped: []Skip{
					{2, "duration is empty"},
					{3, "duration 0: a job must run for at least a millisecond"},
					{4, "duration 0.0: a job must run for at least a millisecond"},
					{5, `timestamp "yesterday": want a time like 2017-10-09 07:01:55`},
					{6, "num_gpus 0: a job takes at least 1"},
					{7, `num_gpus "1.5": want a whole number`},
					{8, "duration -5: must not be negative"},
					{9, `duration "sixty": want a number of seconds`},
					{10, "3 fields, but the header has 5"},
				}},
		},
		{
			name: "philly timestamps far from the others are slips, skipped",
			in: "timestamp,duration,num_gpus,gpu_time,cluster\n" +
				"2017-10-09 06:13:03,60,1,60,x\n" +
				"2917-10-09 06:13:03,60,1,60,x\n" +
				"0001-01-01 00:00:00,60,1,60,x\n" +
				"2017-10-09 06:14:03,60,1,60,x\n",
			want: Trace{Format: Philly, Start: start, Jobs: []Job{
				{Line: 2, Duration: time.Minute, GPUs: 1},
				{Line: 5, Submit: time.Minute, Duration: time.Minute, GPUs: 1},
			}, Skipped: []Skip{
				{3, "timestamp 2917-10-09 06:13:03: more than 50 years from the trace's other jobs (median 2017-10-09)"},
				{4, "timestamp 0001-01-01 00:00:00: more than 50 years from the trace's other jobs (median 2017-10-09)"},
			}},
		},
		{
			name: "a second header, where traces were joined, is named as one",
			in:   "submit,duration,nodes\n0,60,1\nSubmit,duration,nodes\n5,60,1\n",
			want: Trace{Format: Nodes, Jobs: []Job{{Line: 2, Duration: time.Minute, Nodes: 1}, {Line: 4, Submit: 5 * time.Second, Duration: time.Minute, Nodes: 1}},
				Skipped: []Skip{{3, "the header again, as where two traces were joined; only the first line is a header"}}},
		},
		{
			name: "nodes format, any column order, blank lines ignored",
			in:   "nodes,submit,duration\n2,30,3600\n\n1,0,60.25\n",
			want: Trace{Format: Nodes, Jobs: []Job{
				{Line: 4, Submit: 0, Duration: 60250 * time.Millisecond, Nodes: 1},
				{Line: 2, Submit: 30 * time.Second, Duration: time.Hour, Nodes: 2},
			}},
		},
		{
			name: "nodes bad rows",
			in:   "submit,duration,nodes\n-1,60,1\n0,60,0\n0,,1\nx,60,1\n0,60,1\n0,60,100000000000000000000\n0,60,NaN\n",
			want: Trace{Format: Nodes, Jobs: []Job{{Line: 6, Duration: time.Minute, Nodes: 1}},
				Skipped: []Skip{
					{2, "submit -1: must not be negative"},
					{3, "nodes 0: a job takes at least 1"},
					{4, "duration is empty"},
					{5, `submit "x": want a number of seconds`},
					{7, "nodes 100000000000000000000: more than a million; no cluster has that many"},
					{8, `nodes "NaN": want a whole number`},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTrace(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ReadTrace() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadTrace() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A file that is not a trace is refused at its header, saying which headers a trace has.
func TestReadTraceRefusesHeader(t *testing.T) {
	binary := strings.Repeat("\x7fELF\x02\x01\x01", 100) + "\n"
	for _, in := range []string{"", "a,b,c\n1,2,3\n", "submit,duration\n0,60\n", binary} {
		_, err := ReadTrace(strings.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), "line 1: ") || !strings.Contains(err.Error(), "submit,duration,nodes") {
			t.Errorf("ReadTrace(%q) error = %v, want one at line 1 naming the headers a trace has", in, err)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Errorf("ReadTrace of %d bytes of header: an error of %d bytes, want its start only", len(in), len(err.Error()))
		}
	}
}

func TestNodesOn(t *testing.T) {
	nc24, _ := trainyard.LookupSize(trainyard.BuiltinSizes, "STANDARD_NC24")
	nc6, _ := trainyard.LookupSize(trainyard.BuiltinSizes, "STANDARD_NC6")
	tests := []struct {
		job  Job
		size trainyard.VMSize
		want int
	}{
		{Job{GPUs: 1}, nc24, 1}, // a 1-GPU job holds a whole 4-GPU node
		{Job{GPUs: 4}, nc24, 1},
		{Job{GPUs: 5}, nc24, 2},
		{Job{GPUs: 128}, nc24, 32},
		{Job{GPUs: 8}, nc6, 8},
		{Job{Nodes: 3}, nc24, 3}, // a nodes trace counts nodes, whatever the size
	}
	for _, tt := range tests {
		if got := tt.job.NodesOn(tt.size); got != tt.want {
			t.Errorf("%+v.NodesOn(%s) = %d, want %d", tt.job, tt.size.Name, got, tt.want)
		}
	}
}
