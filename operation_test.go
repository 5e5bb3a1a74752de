package trainyard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func TestOperationOutcome(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cluster := func(st trainyard.ProvisioningState, errs ...string) *trainyard.ComputeTarget {
		return &trainyard.ComputeTarget{Name: "cpu", Type: trainyard.TypeAmlCompute, State: st, Errors: errs}
	}
	instance := func(st trainyard.ProvisioningState, p trainyard.PowerState) *trainyard.ComputeTarget {
		return &trainyard.ComputeTarget{Name: "box", Type: trainyard.TypeComputeInstance, State: st, Instance: &trainyard.InstanceSettings{Power: p}}
	}
	node := func(st trainyard.NodeState, registered time.Time) trainyard.Node {
		return trainyard.Node{ID: "n", State: st, RegisteredAt: registered}
	}
	tests := []struct {
		name     string
		kind     trainyard.OperationKind
		c        *trainyard.ComputeTarget
		nodes    []trainyard.Node
		want     trainyard.OperationStatus
		wantCode string
		wantMsg  string
	}{
		{name: "create in progress", kind: trainyard.OpCreate, c: cluster(trainyard.Creating), want: trainyard.OpInProgress},
		{name: "create succeeded", kind: trainyard.OpCreate, c: cluster(trainyard.Succeeded), want: trainyard.OpSucceeded},
		{name: "create succeeded, then updating", kind: trainyard.OpCreate, c: cluster(trainyard.Updating), want: trainyard.OpSucceeded},
		{name: "create failed", kind: trainyard.OpCreate, c: cluster(trainyard.Failed, "old", "size X is not available"),
			want: trainyard.OpFailed, wantCode: trainyard.ErrProvisioningFailed, wantMsg: "size X is not available"},
		{name: "create, then deleted", kind: trainyard.OpCreate, c: cluster(trainyard.Deleting),
			want: trainyard.OpCanceled, wantCode: trainyard.ErrOperationCanceled, wantMsg: "deleted before it was ready"},
		{name: "create, record gone", kind: trainyard.OpCreate, want: trainyard.OpCanceled, wantCode: trainyard.ErrOperationCanceled},
		{name: "delete in progress", kind: trainyard.OpDelete, c: cluster(trainyard.Deleting), want: trainyard.OpInProgress},
		{name: "delete done", kind: trainyard.OpDelete, want: trainyard.OpSucceeded},
		{name: "update", kind: trainyard.OpUpdate, c: cluster(trainyard.Succeeded), want: trainyard.OpSucceeded},
		{name: "attach", kind: trainyard.OpAttach, c: cluster(trainyard.Succeeded), want: trainyard.OpSucceeded},
		{name: "detach", kind: trainyard.OpDetach, want: trainyard.OpSucceeded},

		{name: "start, no node yet", kind: trainyard.OpStart, c: instance(trainyard.Succeeded, trainyard.PowerRunning),
			nodes: []trainyard.Node{node(trainyard.NodePreparing, time.Time{})}, want: trainyard.OpInProgress},
		{name: "start, node up", kind: trainyard.OpStart, c: instance(trainyard.Succeeded, trainyard.PowerRunning),
			nodes: []trainyard.Node{node(trainyard.NodeIdle, t0)}, want: trainyard.OpSucceeded},
		{name: "start, then stopped", kind: trainyard.OpStart, c: instance(trainyard.Succeeded, trainyard.PowerStopped),
			want: trainyard.OpCanceled, wantCode: trainyard.ErrOperationCanceled, wantMsg: "later stop"},
		{name: "stop, node leaving", kind: trainyard.OpStop, c: instance(trainyard.Succeeded, trainyard.PowerStopped),
			nodes: []trainyard.Node{node(trainyard.NodeLeaving, t0)}, want: trainyard.OpInProgress},
		{name: "stop, no node", kind: trainyard.OpStop, c: instance(trainyard.Succeeded, trainyard.PowerStopped), want: trainyard.OpSucceeded},
		{name: "stop, then deleted", kind: trainyard.OpStop, c: instance(trainyard.Deleting, trainyard.PowerStopped),
			want: trainyard.OpCanceled, wantCode: trainyard.ErrOperationCanceled, wantMsg: "deleted"},
		{name: "restart, old node still up", kind: trainyard.OpRestart, c: instance(trainyard.Succeeded, trainyard.PowerRunning),
			nodes: []trainyard.Node{node(trainyard.NodeIdle, t0.Add(-time.Hour))}, want: trainyard.OpInProgress},
		{name: "restart, new node up", kind: trainyard.OpRestart, c: instance(trainyard.Succeeded, trainyard.PowerRunning),
			nodes: []trainyard.Node{node(trainyard.NodeLeaving, t0.Add(-time.Hour)), node(trainyard.NodeRunning, t0.Add(time.Minute))}, want: trainyard.OpSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := trainyard.Operation{ID: "op-1", Compute: "cpu", Kind: tt.kind, Status: trainyard.OpInProgress, CreatedAt: t0}
			got, e := op.Outcome(tt.c, tt.nodes)
			if got != tt.want {
				t.Errorf("Outcome() = %s, want %s", got, tt.want)
			}
			switch {
			case tt.wantCode == "" && e != nil:
				t.Errorf("Outcome() error = %+v, want none", e)
			case tt.wantCode != "" && (e == nil || e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg)):
				t.Errorf("Outcome() error = %+v, want code %s mentioning %q", e, tt.wantCode, tt.wantMsg)
			}
		})
	}

	ended := trainyard.Operation{Kind: trainyard.OpCreate, Status: trainyard.OpSucceeded}
	if got, _ := ended.Outcome(nil, nil); got != trainyard.OpSucceeded {
		t.Errorf("an ended operation became %s; it keeps its status", got)
	}
}

func TestOperationKindProgressive(t *testing.T) {
	for kind, want := range map[trainyard.OperationKind]string{
		trainyard.OpCreate: "Creating", trainyard.OpUpdate: "Updating", trainyard.OpDelete: "Deleting", trainyard.OpAttach: "Attaching",
		trainyard.OpDetach: "Detaching", trainyard.OpStart: "Starting", trainyard.OpStop: "Stopping", trainyard.OpRestart: "Restarting",
	} {
		if got := kind.Progressive(); got != want {
			t.Errorf("%s.Progressive() = %q, want %q", kind, got, want)
		}
	}
}

func TestRunBasedName(t *testing.T) {
	tests := []struct{ job, want string }{
		{"keen_otter_4fa1c2", "run-keen-otter-4f-kx3f9"},
		{"train", "run-train-kx3f9"},
		{"Train-Model__v2", "run-train-model-v-kx3f9"},
		{"a_______________________b", "run-a-b-kx3f9"},
		{"2024", "run-2024-kx3f9"},
		{"___", "run-kx3f9"},
	}
	for _, tt := range tests {
		got := trainyard.RunBasedName(tt.job, "kx3f9")
		if got != tt.want {
			t.Errorf("RunBasedName(%q) = %q, want %q", tt.job, got, tt.want)
		}
		if err := trainyard.ValidateComputeName(trainyard.TypeAmlCompute, got); err != nil {
			t.Errorf("RunBasedName(%q) = %q breaks the name rule: %v", tt.job, got, err)
		}
	}
	long := trainyard.RunBasedName("abcdefghijklmnopqrstuvwxyz", "kx3f9")
	if len(long) > 24 {
		t.Errorf("RunBasedName(26 letters) = %q, %d characters; the rule allows 24", long, len(long))
	}
}

func TestCheckTags(t *testing.T) {
	if err := trainyard.CheckTags(map[string]string{"team": "ml"}); err != nil {
		t.Errorf("CheckTags(team) = %v, want nil", err)
	}
	err := trainyard.CheckTags(map[string]string{"Trainyard.run-based-for": "x"})
	if trainyard.ErrorCode(err) != trainyard.Invalid || !strings.Contains(trainyard.ErrorMessage(err), `"Trainyard.run-based-for"`) {
		t.Errorf("CheckTags(reserved) = %v, want an invalid error naming the key", err)
	}
}
