package postgrescdc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/internal/testenv"
)

// offsets is a task context outside a worker: a fixed committed offset.
type offsets map[string]any

func (offsets) Bootstrap() []string   { return nil }
func (offsets) Producer() *kgo.Client { return nil }
func (o offsets) Offset(map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return o
}

func exec(t testing.TB, dsn string, sqls ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range sqls {
		if _, err := c.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func taskConfig(pg *testenv.Postgres, extra ...string) map[string]string {
	m := map[string]string{
		"database.hostname": pg.Host, "database.port": fmt.Sprint(pg.Port), "database.user": "postgres",
		"database.password": testenv.PostgresPassword, "database.dbname": "postgres", "database.sslmode": "disable",
		"topic.prefix": "srv", "skipped.operations": "none", "status.update.interval.ms": "200",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// pollN polls until n records arrived (or fails after a minute of nothing).
func pollN(t *testing.T, tk *task, n int) []*plugin.SourceRecord {
	t.Helper()
	var out []*plugin.SourceRecord
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d records: %s", len(out), n, describe(out))
		}
		recs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
		if len(recs) > 0 {
			commitThrough(t, tk, recs[len(recs)-1])
		}
	}
	return out
}

func describe(recs []*plugin.SourceRecord) string {
	var b strings.Builder
	for _, r := range recs {
		k, _ := json.Marshal(r.Key)
		if r.Value == nil {
			fmt.Fprintf(&b, "\n%s key=%s tombstone", r.Topic, k)
			continue
		}
		v := r.Value.(*plugin.Struct)
		j, _ := json.Marshal(map[string]any{"op": v.Get("op"), "before": v.Get("before"), "after": v.Get("after")})
		fmt.Fprintf(&b, "\n%s key=%s %s off=%v", r.Topic, k, j, r.SourceOffset)
	}
	return b.String()
}

func TestTaskSnapshotAndStream(t *testing.T) {
	pg := testenv.StartPostgres(t)
	exec(t, pg.DSN,
		`CREATE TYPE mood AS ENUM ('sad','ok','happy')`,
		`CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), m mood, tags text[], at timestamp, tz timestamptz, d date, u uuid, j jsonb, b bytea, ok bool, big bigint, f float8)`,
		`INSERT INTO items VALUES (1, 'one', 1.50, 'ok', '{a,"b c",NULL}', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '2024-01-02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": 1}', '\x0102', true, 9000000000, 2.5)`,
		`INSERT INTO items (id, name) VALUES (2, 'two')`,
	)
	tk := &task{}
	if err := tk.Start(offsets(nil), taskConfig(pg)); err != nil {
		t.Fatal(err)
	}
	defer tk.Stop()
	recs := pollN(t, tk, 2)
	v := recs[0].Value.(*plugin.Struct)
	after := v.Get("after").(*plugin.Struct)
	if v.Get("op") != "r" || after.Get("name") != "one" || after.Get("m") != "ok" {
		t.Fatalf("snapshot record: %s", describe(recs))
	}
	if got := recs[1].Value.(*plugin.Struct).Get("source").(*plugin.Struct).Get("snapshot"); got != "last" {
		t.Fatalf("last snapshot record has snapshot=%v", got)
	}
	if tags := after.Get("tags").([]any); len(tags) != 3 || tags[1] != "b c" || tags[2] != nil {
		t.Fatalf("tags = %#v", tags)
	}
	if at := after.Get("at"); at != int64(1704164645123456) {
		t.Fatalf("at = %v", at)
	}
	if tz := after.Get("tz"); tz != "2024-01-02T01:04:05Z" {
		t.Fatalf("tz = %v", tz)
	}
	exec(t, pg.DSN,
		`INSERT INTO items (id, name) VALUES (3, 'three')`,
		`UPDATE items SET name = 'uno' WHERE id = 1`,
		`UPDATE items SET id = 10 WHERE id = 2`,
		`DELETE FROM items WHERE id = 3`,
		`TRUNCATE items`,
	)
	recs = pollN(t, tk, 8)
	ops := ""
	for _, r := range recs {
		if r.Value == nil {
			ops += "-"
		} else {
			ops += r.Value.(*plugin.Struct).Get("op").(string)
		}
	}
	if ops != "cud-cd-t" {
		t.Fatalf("ops %q: %s", ops, describe(recs))
	}
}

func confirmedFlush(t *testing.T, dsn string) LSN {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'debezium'").ReadAll()
	if err != nil || len(res[0].Rows) != 1 {
		t.Fatalf("slot: %v", err)
	}
	l, err := ParseLSN(string(res[0].Rows[0][0]))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The slot's confirmed position moves only on Commit, never past the last
// committed record's lsn_commit; heartbeats move it while the captured
// tables are idle.
func TestTaskFlushRuleAndHeartbeat(t *testing.T) {
	pg := testenv.StartPostgres(t)
	exec(t, pg.DSN, `CREATE TABLE captured (id int PRIMARY KEY)`, `CREATE TABLE other (id int PRIMARY KEY)`)
	tk := &task{}
	if err := tk.Start(offsets(nil), taskConfig(pg, "table.include.list", "public.captured", "heartbeat.interval.ms", "100", "snapshot.mode", "no_data")); err != nil {
		t.Fatal(err)
	}
	defer tk.Stop()
	start := confirmedFlush(t, pg.DSN)
	exec(t, pg.DSN, `INSERT INTO captured VALUES (1)`, `INSERT INTO captured VALUES (2)`)
	var recs []*plugin.SourceRecord
	for len(recs) < 2 {
		r, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...) // not committed
	}
	time.Sleep(300 * time.Millisecond)
	if got := confirmedFlush(t, pg.DSN); got != start {
		t.Fatalf("confirmed_flush_lsn moved from %s to %s before Commit", start, got)
	}
	commitThrough(t, tk, recs[len(recs)-1])
	committed := LSN(recs[len(recs)-1].SourceOffset["lsn_commit"].(int64))
	waitUntil(t, "confirmed_flush_lsn to reach the committed offset", func() bool { return confirmedFlush(t, pg.DSN) == committed })

	// Only the other table changes: a heartbeat carries the slot past it.
	exec(t, pg.DSN, `INSERT INTO other SELECT g FROM generate_series(1, 100) g`)
	var end LSN
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _ := pgconn.Connect(ctx, pg.DSN)
		res, _ := c.Exec(ctx, "SELECT pg_current_wal_insert_lsn()").ReadAll()
		end, _ = ParseLSN(string(res[0].Rows[0][0]))
		c.Close(ctx)
		cancel()
	}
	waitUntil(t, "a heartbeat past the other table's writes", func() bool {
		r, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range r {
			if x.Topic != "__debezium-heartbeat.srv" {
				t.Fatalf("unexpected record on %s", x.Topic)
			}
		}
		if len(r) > 0 {
			commitThrough(t, tk, r[len(r)-1])
		}
		return confirmedFlush(t, pg.DSN) >= end
	})
}

// commitThrough tells the task, as the Connect runtime does, that r and
// every record before it are durable.
func commitThrough(t *testing.T, tk *task, r *plugin.SourceRecord) {
	t.Helper()
	if err := tk.CommitRecord(r); err != nil {
		t.Fatal(err)
	}
	if err := tk.Commit(); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
