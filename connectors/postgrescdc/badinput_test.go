package postgrescdc_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestBadInput: each misconfiguration fails its task with a clear trace;
// an unknown type degrades to its text form.
func TestBadInput(t *testing.T) {
	pg := testenv.StartPostgres(t)
	replica := testenv.StartPostgres(t, testenv.WithPostgresSettings(map[string]string{"wal_level": "replica"}))
	broker := testenv.StartBroker(t)
	url := startWorker(t, broker.Addr)
	pgExec(t, pg.DSN,
		`CREATE TABLE odd (id int PRIMARY KEY, p point, m money)`,
		`CREATE TABLE nums (id int PRIMARY KEY, x numeric)`,
	)
	cons := consume(t, broker.Addr, `(odd|nan)\..*`)

	failed := func(name, want string) {
		t.Helper()
		var trace string
		waitFor(t, name+" to fail", func() bool {
			var st string
			st, trace = taskState(t, url, name)
			return st == "FAILED"
		})
		if !strings.Contains(trace, want) {
			t.Fatalf("%s: trace does not say %q:\n%s", name, want, trace)
		}
	}
	createConnector(t, url, "badpass", connectorConfig(pg, map[string]string{"database.password": "wrong", "slot.name": "s1"}))
	failed("badpass", "password authentication failed")
	createConnector(t, url, "replica", connectorConfig(replica, map[string]string{"slot.name": "s2"}))
	failed("replica", "wal_level=logical")
	createConnector(t, url, "nopub", connectorConfig(pg, map[string]string{"slot.name": "s3",
		"publication.name": "missing", "publication.autocreate.mode": "disabled"}))
	failed("nopub", `publication "missing" does not exist`)

	// numeric NaN cannot be a Connect Decimal: a clear failure.
	pgExec(t, pg.DSN, `INSERT INTO nums VALUES (1, 'NaN')`)
	createConnector(t, url, "nan", connectorConfig(pg, map[string]string{"slot.name": "s4", "topic.prefix": "nan",
		"table.include.list": "public.nums", "publication.name": "nanpub", "publication.autocreate.mode": "filtered"}))
	failed("nan", "decimal.handling.mode")

	// Unknown types (point, money) arrive as their text form.
	createConnector(t, url, "odd", connectorConfig(pg, map[string]string{"slot.name": "s5", "topic.prefix": "odd",
		"table.include.list": "public.odd", "publication.name": "oddpub", "publication.autocreate.mode": "filtered"}))
	waitFor(t, "odd to run", func() bool { st, _ := taskState(t, url, "odd"); return st == "RUNNING" })
	pgExec(t, pg.DSN, `INSERT INTO odd VALUES (1, '(1,2)', 12.5)`)
	evs := cons.wait(t, "the odd row", func(evs []event) bool { return len(evs) > 0 })
	after := evs[0].payload()["after"].(map[string]any)
	if after["p"] != "(1,2)" || after["m"] != "$12.50" {
		t.Fatalf("unknown types: %v", after)
	}
	if st, trace := taskState(t, url, "odd"); st != "RUNNING" {
		t.Fatalf("odd: %s %s", st, trace)
	}
}
