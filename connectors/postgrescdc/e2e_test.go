package postgrescdc_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

// match compares a consumed JSON value with a fixture where "*" stands for
// any non-null value (timestamps, LSNs, transaction ids).
func match(t testing.TB, path string, got, want any) {
	t.Helper()
	if want == "*" {
		if got == nil {
			t.Errorf("%s: null, want a value", path)
		}
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for k := range w {
			match(t, path+"."+k, g[k], w[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			match(t, path+"[]", g[i], w[i])
		}
	default:
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
		}
	}
}

func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestEndToEnd runs the connector on a Connect worker against a real
// PostgreSQL and Sluice's broker: snapshot, then inserts, updates,
// deletes, truncates, a transaction larger than logical_decoding_work_mem,
// TOAST updates, a primary key change and a table without a primary key.
func TestEndToEnd(t *testing.T) {
	pg := testenv.StartPostgres(t, testenv.WithPostgresSettings(map[string]string{"logical_decoding_work_mem": "'64kB'"}))
	broker := testenv.StartBroker(t)
	pgExec(t, pg.DSN,
		`CREATE SCHEMA inventory`,
		`CREATE TABLE inventory.customers (id SERIAL, first_name VARCHAR(255) NOT NULL, last_name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL, PRIMARY KEY(id))`,
		`CREATE TABLE inventory.docs (id int PRIMARY KEY, title text, body text)`,
		`CREATE TABLE inventory.fulldocs (id int PRIMARY KEY, title text, body text)`,
		`ALTER TABLE inventory.fulldocs REPLICA IDENTITY FULL`,
		`CREATE TABLE inventory.nopk (a int, b text)`,
		`CREATE TABLE inventory.scratch (id int PRIMARY KEY, v text)`,
		`CREATE TABLE inventory.bulk (id int PRIMARY KEY, pad text)`,
		// Snapshot rows.
		`INSERT INTO inventory.scratch SELECT g, 'v' || g FROM generate_series(1, 5) g`,
		`INSERT INTO inventory.bulk SELECT g, repeat('s', 50) FROM generate_series(1, 200) g`,
	)
	url := startWorker(t, broker.Addr)
	cons := consume(t, broker.Addr, `PostgreSQL_server\..*`)
	createConnector(t, url, "pg", connectorConfig(pg, map[string]string{"tombstones.on.delete": "true"}))
	cons.wait(t, "snapshot", func(evs []event) bool {
		if st, trace := taskState(t, url, "pg"); st == "FAILED" {
			t.Fatalf("task failed: %s", trace)
		}
		return countOp(evs, "r") == 205
	})

	// A 10 kB incompressible body is stored out of line (TOAST).
	big := `(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 320) g)`
	pgExec(t, pg.DSN,
		`INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')`,
		`UPDATE inventory.customers SET first_name = 'Anne Marie' WHERE id = 1`,
		`INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Bob', 'B', 'b@x'), ('Carl', 'C', 'c@x')`,
		`DELETE FROM inventory.customers WHERE id = 2`,
		`UPDATE inventory.customers SET id = 100 WHERE id = 3`,
		`INSERT INTO inventory.docs VALUES (1, 't', `+big+`)`,
		`INSERT INTO inventory.fulldocs VALUES (1, 't', `+big+`)`,
		`UPDATE inventory.docs SET title = 't2' WHERE id = 1`,
		`UPDATE inventory.fulldocs SET title = 't2' WHERE id = 1`,
		`INSERT INTO inventory.nopk VALUES (1, 'x'), (2, 'y')`,
		`TRUNCATE inventory.scratch`,
		`INSERT INTO inventory.scratch VALUES (7, 'after truncate')`,
		// Larger than logical_decoding_work_mem: spilled to disk by the server.
		`BEGIN; INSERT INTO inventory.bulk SELECT g, repeat('x', 200) FROM generate_series(1001, 4000) g; UPDATE inventory.bulk SET pad = 'u' WHERE id <= 100; DELETE FROM inventory.bulk WHERE id BETWEEN 101 AND 150; COMMIT`,
		`SELECT pg_logical_emit_message(true, 'sluice', 'done')`,
	)
	cons.wait(t, "the done message", func(evs []event) bool {
		for _, e := range evs {
			if e.topic == "PostgreSQL_server.message" {
				return true
			}
		}
		return false
	})

	// Debezium's events, from its documentation's customers example.
	cust := cons.topic("PostgreSQL_server.inventory.customers")
	var ops []string
	for _, e := range cust {
		ops = append(ops, e.op())
	}
	if got := strings.Join(ops, " "); got != "c u c c d tombstone d tombstone c" {
		t.Fatalf("customers ops: %s", got)
	}
	match(t, "key", cust[0].key, fixture(t, "customers_key.json"))
	match(t, "create", cust[0].value, fixture(t, "customers_create.json"))
	want := fixture(t, "customers_create.json")["payload"].(map[string]any)
	upd := cloneJSON(want)
	upd["op"] = "u"
	upd["after"].(map[string]any)["first_name"] = "Anne Marie"
	match(t, "update", cust[1].payload(), upd)
	del := cloneJSON(want)
	del["op"], del["after"] = "d", nil
	del["before"] = map[string]any{"id": float64(2), "first_name": "", "last_name": "", "email": ""}
	match(t, "delete", cust[4].payload(), del)
	if cust[5].value != nil || !reflect.DeepEqual(cust[5].key, cust[4].key) {
		t.Fatalf("delete not followed by a tombstone of its key: %v", cust[5])
	}
	// Primary key change: delete of 3 (+tombstone), create of 100.
	if cust[6].key["payload"].(map[string]any)["id"] != float64(3) || cust[8].key["payload"].(map[string]any)["id"] != float64(100) {
		t.Fatalf("pk change keys: %v then %v", cust[6].key, cust[8].key)
	}

	// TOAST: unchanged out-of-line values are the placeholder under
	// REPLICA IDENTITY DEFAULT, the old value under FULL.
	docs := cons.topic("PostgreSQL_server.inventory.docs")
	if got := docs[len(docs)-1].payload()["after"].(map[string]any)["body"]; got != placeholder {
		t.Fatalf("docs TOAST body = %.40v", got)
	}
	full := cons.topic("PostgreSQL_server.inventory.fulldocs")
	last := full[len(full)-1].payload()
	if b := last["after"].(map[string]any)["body"].(string); len(b) != 320*32 {
		t.Fatalf("fulldocs body len %d", len(b))
	}
	if last["before"].(map[string]any)["title"] != "t" {
		t.Fatalf("fulldocs before = %v", last["before"])
	}

	// No primary key: null keys, one create per row.
	nopk := cons.topic("PostgreSQL_server.inventory.nopk")
	if len(nopk) != 2 || nopk[0].key != nil || nopk[0].op() != "c" {
		t.Fatalf("nopk events: %v", nopk)
	}
	// Truncate: an op "t" event with no key.
	scratch := cons.topic("PostgreSQL_server.inventory.scratch")
	if scratch[5].op() != "t" || scratch[5].key != nil {
		t.Fatalf("scratch event 6: %v", scratch[5])
	}

	// Folding each topic by key gives the table.
	for _, tc := range []struct{ table, key string }{
		{"inventory.customers", "id"}, {"inventory.docs", "id"}, {"inventory.fulldocs", "id"},
		{"inventory.scratch", "id"}, {"inventory.bulk", "id"},
	} {
		sameRows(t, tc.table, fold(cons.topic("PostgreSQL_server."+tc.table)), tableRows(t, pg.DSN, tc.table, tc.key))
	}
	if st, trace := taskState(t, url, "pg"); st != "RUNNING" {
		t.Fatalf("task %s: %s", st, trace)
	}
}

func countOp(evs []event, op string) int {
	n := 0
	for _, e := range evs {
		if e.op() == op {
			n++
		}
	}
	return n
}

func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}
