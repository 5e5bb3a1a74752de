package apiserver

import (
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

func TestUpdateEvent(t *testing.T) {
	cluster := trainyard.ComputeTarget{Type: trainyard.TypeAmlCompute, Description: "shared", Tags: map[string]string{"team": "vision", "cost": "ml"},
		Scale: trainyard.ScaleSettings{MinNodes: 1, MaxNodes: 8, IdleTimeBeforeScaleDown: 10 * time.Minute}}
	vm := trainyard.ComputeTarget{Type: trainyard.TypeVirtualMachine, Description: "hi", Tags: map[string]string{"a": "b"}}
	desc, none := "shared", ""
	tests := []struct {
		name string
		c    trainyard.ComputeTarget
		u    api.ComputeUpdate
		want string
	}{
		{name: "a cluster's scale settings", c: cluster, u: api.ComputeUpdate{MaxInstances: intp(8)}, want: "updated: min 1, max 8, idle time PT600S"},
		{name: "everything", c: cluster, u: api.ComputeUpdate{MinInstances: intp(1), Description: &desc, Tags: map[string]string{"team": "vision", "cost": "ml"}},
			want: `updated: min 1, max 8, idle time PT600S; description "shared"; tags cost=ml, team=vision`},
		{name: "a cluster's tags only", c: cluster, u: api.ComputeUpdate{Tags: map[string]string{"team": "vision"}}, want: "updated: tags cost=ml, team=vision"},
		// QA: "updated: min 0, max 0, idle time PT0S" for an attached virtualmachine.
		{name: "an attached target", c: vm, u: api.ComputeUpdate{Description: &vm.Description, Tags: map[string]string{"a": "b"}},
			want: `updated: description "hi"; tags a=b`},
		{name: "description removed", c: trainyard.ComputeTarget{Type: trainyard.TypeVirtualMachine}, u: api.ComputeUpdate{Description: &none},
			want: "updated: description removed"},
		{name: "tags removed, the server's own kept quiet", c: trainyard.ComputeTarget{Type: trainyard.TypeAmlCompute, Tags: map[string]string{trainyard.ReservedTagPrefix + "x": "y"}},
			u: api.ComputeUpdate{Tags: map[string]string{}}, want: "updated: tags removed"},
		{name: "nothing", c: vm, want: "updated: nothing changed"},
	}
	for _, tt := range tests {
		if got := updateEvent(tt.c, tt.u); got != tt.want {
			t.Errorf("%s: updateEvent() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func intp(n int) *int { return &n }
