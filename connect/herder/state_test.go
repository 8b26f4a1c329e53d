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

func cooperativeState(conns map[string]int) *configState {
	s := newConfigState()
	for n, k := range conns {
		s.apply("connector-"+n, []byte(`{"properties":{"k":"v"}}`))
		for i := 0; i < k; i++ {
			s.apply("task-"+n+"-"+string(rune('0'+i)), []byte(`{"properties":{}}`))
		}
		s.apply("commit-"+n, []byte(`{"tasks":`+string(rune('0'+k))+`}`))
	}
	return s
}

func owned(a *Assignment) map[string]bool {
	m := map[string]bool{}
	for _, x := range append(append([]string{}, a.Connectors...), a.Tasks...) {
		m[x] = true
	}
	return m
}

// TestAssignCooperative walks a cluster through growth and shrinkage: items
// never run on two members in one generation, members keep what they run,
// and the load evens out.
func TestAssignCooperative(t *testing.T) {
	s := cooperativeState(map[string]int{"a": 3, "b": 3})
	// One member: it gets everything.
	as := assignCooperative(s, []member{{id: "m1"}})
	if a := as["m1"]; len(a.Connectors) != 2 || len(a.Tasks) != 6 || len(a.Revoked) != 0 {
		t.Fatalf("single = %+v", a)
	}
	m1 := owned(as["m1"])
	// A second member joins: m1 keeps its share and revokes the rest; m2
	// gets nothing it could run twice.
	as = assignCooperative(s, []member{{id: "m1", owned: m1}, {id: "m2"}})
	a1, a2 := as["m1"], as["m2"]
	if len(a1.Connectors) != 1 || len(a1.Tasks) != 3 || len(a1.Revoked) != 4 || len(a2.Connectors)+len(a2.Tasks) != 0 {
		t.Fatalf("after join: m1 %+v m2 %+v", a1, a2)
	}
	for x := range owned(a1) {
		if !m1[x] {
			t.Fatalf("m1 got %s it did not run", x)
		}
	}
	// m1 rejoins without the revoked items: m2 gets them; nothing moves
	// from m1.
	m1 = owned(a1)
	as = assignCooperative(s, []member{{id: "m1", owned: m1}, {id: "m2"}})
	if !reflect.DeepEqual(owned(as["m1"]), m1) || len(as["m2"].Connectors) != 1 || len(as["m2"].Tasks) != 3 || len(as["m1"].Revoked)+len(as["m2"].Revoked) != 0 {
		t.Fatalf("second round: %+v %+v", as["m1"], as["m2"])
	}
	m2 := owned(as["m2"])
	// A new connector goes to the least loaded; a deleted one disappears.
	s.apply("connector-c", []byte(`{"properties":{"k":"v"}}`))
	s.apply("connector-a", nil)
	as = assignCooperative(s, []member{{id: "m1", owned: m1}, {id: "m2", owned: m2}})
	all := map[string]string{}
	revoked := map[string]bool{}
	for _, a := range as {
		for _, r := range a.Revoked {
			revoked[r] = true
		}
	}
	for id, a := range as {
		for x := range owned(a) {
			if revoked[x] {
				t.Fatalf("%s revoked and assigned in one generation", x)
			}
			if prev, dup := all[x]; dup {
				t.Fatalf("%s on %s and %s", x, prev, id)
			}
			all[x] = id
		}
	}
	// 5 items: b, c, b-0..b-2; the task m2 had too many waits a round.
	if len(all)+len(revoked) != 5 || all["a"] != "" || all["c"] == "" || len(revoked) != 1 {
		t.Fatalf("items = %v, revoked %v", all, revoked)
	}
	// m1 leaves: m2 takes everything at once.
	as = assignCooperative(s, []member{{id: "m2", owned: owned(as["m2"])}})
	if len(owned(as["m2"])) != 5 {
		t.Fatalf("after leave: %+v", as["m2"])
	}
	// Deterministic whatever the member order.
	x := assignCooperative(s, []member{{id: "b"}, {id: "a"}})
	y := assignCooperative(s, []member{{id: "a"}, {id: "b"}})
	if !reflect.DeepEqual(x, y) {
		t.Fatal("assignment depends on member order")
	}
}
