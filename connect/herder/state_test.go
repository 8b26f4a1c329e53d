package herder

import (
	"reflect"
	"testing"
)

// TestConfigStateRecords folds Kafka Connect's own config records.
func TestConfigStateRecords(t *testing.T) {
	s := newConfigState()
	steps := []struct {
		key, value string
		changed    bool
	}{
		{"connector-c", `{"properties":{"connector.class":"X","tasks.max":"2"}}`, true},
		{"target-state-c", `{"state":"STARTED"}`, true},
		{"task-c-0", `{"properties":{"a":"0"}}`, false},
		{"task-c-1", `{"properties":{"a":"1"}}`, false},
		{"commit-c", `{"tasks":2}`, true},
		{"target-state-c", `{"state":"PAUSED","state.v2":"STOPPED"}`, true},
		{"restart-connector-c", `{"include-tasks":true,"only-failed":false}`, true},
		{"garbage", `{}`, false},
		{"task-c-x", `{"properties":{}}`, false},
	}
	for _, st := range steps {
		if got := s.apply(st.key, []byte(st.value)); got != st.changed {
			t.Fatalf("%s: changed = %v", st.key, got)
		}
	}
	c := s.connectors["c"]
	if c.target != TargetStopped || !reflect.DeepEqual(c.tasks, []map[string]string{{"a": "0"}, {"a": "1"}}) {
		t.Fatalf("state = %+v", c)
	}
	if !s.apply("connector-c", nil) || len(s.names()) != 0 {
		t.Fatal("tombstone did not delete")
	}
	// Task configs without a commit are not visible.
	s.apply("connector-d", []byte(`{"properties":{"x":"y"}}`))
	s.apply("task-d-0", []byte(`{"properties":{"a":"0"}}`))
	if len(s.connectors["d"].tasks) != 0 {
		t.Fatal("uncommitted task visible")
	}
	if n, i, ok := splitTaskKey("my-conn-12"); !ok || n != "my-conn" || i != 12 {
		t.Fatalf("splitTaskKey = %q %d %v", n, i, ok)
	}
}

func TestAssignSpreads(t *testing.T) {
	s := newConfigState()
	for _, n := range []string{"a", "b"} {
		s.apply("connector-"+n, []byte(`{"properties":{"k":"v"}}`))
		for i := 0; i < 3; i++ {
			s.apply("task-"+n+"-"+string(rune('0'+i)), []byte(`{"properties":{}}`))
		}
		s.apply("commit-"+n, []byte(`{"tasks":3}`))
	}
	as := assign(s, []string{"m2", "m1"})
	total := 0
	for _, a := range as {
		n := len(a.Connectors) + len(a.Tasks)
		if n != 4 {
			t.Fatalf("uneven assignment: %+v", as)
		}
		total += len(a.Tasks)
	}
	if total != 6 {
		t.Fatalf("tasks assigned = %d", total)
	}
	if !reflect.DeepEqual(assign(s, []string{"m1", "m2"}), as) {
		t.Fatal("assignment depends on member order")
	}
}
