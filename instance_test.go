package trainyard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func TestInstanceSettingsValidate(t *testing.T) {
	tests := []struct {
		idle    time.Duration
		wantErr string
	}{
		{0, ""},
		{15 * time.Minute, ""},
		{time.Hour, ""},
		{72 * time.Hour, ""},
		{14 * time.Minute, "idle_time_before_shutdown_minutes 14: must be 15 to 4320 minutes"},
		{72*time.Hour + time.Minute, "idle_time_before_shutdown_minutes 4321"},
		{-15 * time.Minute, "idle_time_before_shutdown_minutes -15"},
		{30*time.Minute + 30*time.Second, "give whole minutes"},
	}
	for _, tt := range tests {
		err := trainyard.InstanceSettings{Power: trainyard.PowerRunning, IdleTimeBeforeShutdown: tt.idle}.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.idle, err)
			}
			continue
		}
		wantInvalid(t, err, tt.wantErr)
	}
}

func instance(st trainyard.ProvisioningState, p trainyard.PowerState) trainyard.ComputeTarget {
	return trainyard.ComputeTarget{Name: "my-instance", Type: trainyard.TypeComputeInstance, State: st,
		Instance: &trainyard.InstanceSettings{Power: p}}
}

func TestPowerAfter(t *testing.T) {
	running, stopped := instance(trainyard.Succeeded, trainyard.PowerRunning), instance(trainyard.Succeeded, trainyard.PowerStopped)
	tests := []struct {
		name     string
		c        trainyard.ComputeTarget
		action   trainyard.InstanceAction
		want     trainyard.PowerState
		wantCode trainyard.Code
		wantMsg  string
	}{
		{name: "stop a running instance", c: running, action: trainyard.ActionStop, want: trainyard.PowerStopped},
		{name: "restart a running instance", c: running, action: trainyard.ActionRestart, want: trainyard.PowerRunning},
		{name: "start a stopped instance", c: stopped, action: trainyard.ActionStart, want: trainyard.PowerRunning},
		{name: "start a running instance", c: running, action: trainyard.ActionStart, wantCode: trainyard.Conflict, wantMsg: "already running"},
		{name: "stop a stopped instance", c: stopped, action: trainyard.ActionStop, wantCode: trainyard.Conflict,
			wantMsg: "trainyard compute start --name my-instance"},
		{name: "restart a stopped instance", c: stopped, action: trainyard.ActionRestart, wantCode: trainyard.Conflict, wantMsg: "is stopped, so it cannot restart"},
		{name: "while creating", c: instance(trainyard.Creating, trainyard.PowerRunning), action: trainyard.ActionStop,
			wantCode: trainyard.Conflict, wantMsg: "is Creating; wait"},
		{name: "while deleting", c: instance(trainyard.Deleting, trainyard.PowerStopped), action: trainyard.ActionStart,
			wantCode: trainyard.Conflict, wantMsg: "is Deleting"},
		{name: "failed", c: instance(trainyard.Failed, trainyard.PowerRunning), action: trainyard.ActionRestart,
			wantCode: trainyard.Conflict, wantMsg: "delete it and create it again"},
		{name: "a cluster", c: trainyard.ComputeTarget{Name: "cpu-cluster", Type: trainyard.TypeAmlCompute, State: trainyard.Succeeded},
			action: trainyard.ActionStop, wantCode: trainyard.Invalid, wantMsg: "stop applies to compute instances only"},
		{name: "an attached target", c: trainyard.ComputeTarget{Name: "myvm", Type: trainyard.TypeVirtualMachine, State: trainyard.Succeeded},
			action: trainyard.ActionStart, wantCode: trainyard.Invalid, wantMsg: "powered where it lives"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trainyard.PowerAfter(tt.c, tt.action)
			if tt.wantCode == "" {
				if err != nil || got != tt.want {
					t.Errorf("PowerAfter() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if trainyard.ErrorCode(err) != tt.wantCode || !strings.Contains(trainyard.ErrorMessage(err), tt.wantMsg) {
				t.Errorf("PowerAfter() = %v; want %s mentioning %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestInstanceState(t *testing.T) {
	node := func(s trainyard.NodeState) trainyard.Node { return trainyard.Node{ID: "n", State: s} }
	running, stopped := instance(trainyard.Succeeded, trainyard.PowerRunning), instance(trainyard.Succeeded, trainyard.PowerStopped)
	tests := []struct {
		name  string
		c     trainyard.ComputeTarget
		nodes []trainyard.Node
		want  string
	}{
		{"being created", instance(trainyard.Creating, trainyard.PowerRunning), nil, "Creating"},
		{"failed", instance(trainyard.Failed, trainyard.PowerRunning), nil, "CreateFailed"},
		{"being deleted", instance(trainyard.Deleting, trainyard.PowerRunning), []trainyard.Node{node(trainyard.NodeIdle)}, "Deleting"},
		{"no node yet", running, nil, "Starting"},
		{"node booting", running, []trainyard.Node{node(trainyard.NodePreparing)}, "Starting"},
		{"node idle", running, []trainyard.Node{node(trainyard.NodeIdle)}, "Running"},
		{"node busy", running, []trainyard.Node{node(trainyard.NodeRunning)}, "JobRunning"},
		{"restart: old node leaving", running, []trainyard.Node{node(trainyard.NodeLeaving)}, "Restarting"},
		{"restart: new node booting", running, []trainyard.Node{node(trainyard.NodeLeaving), node(trainyard.NodePreparing)}, "Restarting"},
		{"stop: node still up", stopped, []trainyard.Node{node(trainyard.NodeIdle)}, "Stopping"},
		{"stop: node leaving", stopped, []trainyard.Node{node(trainyard.NodeLeaving)}, "Stopping"},
		{"stopped", stopped, nil, "Stopped"},
	}
	for _, tt := range tests {
		if got := trainyard.InstanceState(tt.c, tt.nodes); got != tt.want {
			t.Errorf("%s: InstanceState() = %s, want %s", tt.name, got, tt.want)
		}
	}
}
