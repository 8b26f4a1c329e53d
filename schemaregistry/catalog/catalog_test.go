package catalog

import (
	"testing"

	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// apply runs a plan and applies its records through their encoded form,
// as the topic would hand them back.
func apply(t *testing.T, c *Catalog, plan func(st *State) ([]store.Record, error)) {
	t.Helper()
	var recs []store.Record
	var err error
	c.Read(func(st *State) { recs, err = plan(st) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		k, v, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := store.Decode(k, v)
		if err != nil {
			t.Fatal(err)
		}
		c.Apply(back)
	}
}

func registerPlan(subject string, req SchemaRequest, normalize bool, out *Registered) func(st *State) ([]store.Record, error) {
	return func(st *State) ([]store.Record, error) {
		recs, r, err := st.PlanRegister(subject, req, normalize)
		*out = r
		return recs, err
	}
}

// TestNormalize: schemas spelling names differently are one schema, stored
// with full names under normalize=true.
func TestNormalize(t *testing.T) {
	c := New(compat.None)
	a := SchemaRequest{Schema: `{"type":"record","name":"R","namespace":"ns","fields":[{"name":"f","type":"int"}]}`}
	b := SchemaRequest{Schema: `{"type":"record","name":"ns.R","fields":[{"name":"f","type":"int"}]}`}
	var r1, r2 Registered
	apply(t, c, registerPlan("n", a, true, &r1))
	apply(t, c, registerPlan("n", b, true, &r2))
	if r1.ID != r2.ID || r1.Version != r2.Version || !r2.Existing {
		t.Fatalf("normalized: %+v %+v", r1, r2)
	}
	var stored Version
	c.Read(func(st *State) { stored, _ = st.GetVersion("n", 1, false) })
	if stored.Schema != `{"type":"record","name":"ns.R","fields":[{"name":"f","type":"int"}]}` {
		t.Fatalf("stored %s", stored.Schema)
	}
	// Without normalize the stored form is Java's Schema.toString, which
	// also splits "ns.R" into name and namespace: still one schema, as in
	// Confluent's registry, stored in that form.
	var r3, r4 Registered
	apply(t, c, registerPlan("plain", b, false, &r3))
	apply(t, c, registerPlan("plain", a, false, &r4))
	if r3.ID != r4.ID || !r4.Existing {
		t.Fatalf("plain: %+v %+v", r3, r4)
	}
	c.Read(func(st *State) { stored, _ = st.GetVersion("plain", 1, false) })
	if stored.Schema != `{"type":"record","name":"R","namespace":"ns","fields":[{"name":"f","type":"int"}]}` {
		t.Fatalf("stored %s", stored.Schema)
	}
	// Lookup normalizes the same way.
	c.Read(func(st *State) {
		if v, err := st.Lookup("n", b, true, false); err != nil || v.ID != r1.ID {
			t.Fatalf("lookup: %+v %v", v, err)
		}
	})
}

// TestDeleteSubjectRecord: a DELETE_SUBJECT marks versions up to its
// watermark deleted, and later versions stay.
func TestDeleteSubjectRecord(t *testing.T) {
	c := New(compat.Backward)
	for v := 1; v <= 3; v++ {
		c.Apply(store.Record{Key: store.SchemaKey("s", v), Value: &store.SchemaValue{Subject: "s", Version: v, ID: v, Schema: `"int"`}})
	}
	c.Apply(store.Record{Key: store.DeleteSubjectKey("s"), Value: &store.DeleteSubjectValue{Subject: "s", Version: 2}})
	c.Read(func(st *State) {
		vs, err := st.Versions("s", false, false)
		if err != nil || len(vs) != 1 || vs[0].Version != 3 {
			t.Fatalf("live versions %v %v", vs, err)
		}
		if st.MaxID() != 3 {
			t.Fatalf("max id %d", st.MaxID())
		}
	})
	c.Apply(store.Record{Key: store.Key{KeyType: store.KeyClearSubject, Subject: ptr("s")}, Value: &store.ClearSubjectValue{Subject: "s"}})
	c.Read(func(st *State) {
		if !st.Empty("s") {
			t.Fatal("CLEAR_SUBJECT left versions")
		}
	})
}

func ptr(s string) *string { return &s }

func TestErrorStatus(t *testing.T) {
	for code, status := range map[int]int{40401: 404, 409: 409, 42201: 422, 50004: 500, 413: 413} {
		if got := (&Error{Code: code}).Status(); got != status {
			t.Errorf("%d: status %d, want %d", code, got, status)
		}
	}
}
