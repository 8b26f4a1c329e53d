package postgrescdc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/testenv"
)

// startWorker runs an in-process Connect worker until the test ends.
func startWorker(t testing.TB, bootstrap string) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w, err := connect.New(connect.Config{Bootstrap: []string{bootstrap}, Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "worker ready", func() bool { return w.Ready() == nil })
	return "http://" + w.Addr()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func call(t testing.TB, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// connectorConfig is a Debezium-style config for the test server.
func connectorConfig(pg *testenv.Postgres, extra map[string]string) map[string]string {
	m := map[string]string{
		"connector.class":   "io.debezium.connector.postgresql.PostgresConnector",
		"database.hostname": pg.Host, "database.port": fmt.Sprint(pg.Port), "database.user": "postgres",
		"database.password": testenv.PostgresPassword, "database.dbname": "postgres", "database.sslmode": "disable",
		"topic.prefix": "PostgreSQL_server", "plugin.name": "pgoutput", "skipped.operations": "none",
		"status.update.interval.ms": "500",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func createConnector(t testing.TB, url, name string, cfg map[string]string) {
	t.Helper()
	var st int
	var body []byte
	// A worker that just started answers 409 until it has joined its group.
	waitFor(t, "the worker to take the connector", func() bool {
		st, body = call(t, "POST", url+"/connectors", map[string]any{"name": name, "config": cfg})
		return st != 409
	})
	if st != 201 {
		t.Fatalf("create connector: %d %s", st, body)
	}
}

// taskState returns the state and trace of task 0.
func taskState(t testing.TB, url, name string) (string, string) {
	t.Helper()
	st, body := call(t, "GET", url+"/connectors/"+name+"/status", nil)
	if st != 200 {
		return "", ""
	}
	var s struct {
		Tasks []struct{ State, Trace string } `json:"tasks"`
	}
	json.Unmarshal(body, &s)
	if len(s.Tasks) == 0 {
		return "", ""
	}
	return s.Tasks[0].State, s.Tasks[0].Trace
}

func pgExec(t testing.TB, dsn string, sqls ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
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

func pgQuery(t testing.TB, dsn, sql string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]string
	for _, r := range res[len(res)-1].Rows {
		row := make([]string, len(r))
		for i, v := range r {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	return out
}

// event is one consumed record, its key and value JSON decoded.
type event struct {
	topic     string
	partition int32
	key       map[string]any // {"schema","payload"} or nil
	value     map[string]any // nil for a tombstone
	offset    int64
}

func (e event) payload() map[string]any {
	if e.value == nil {
		return nil
	}
	p, _ := e.value["payload"].(map[string]any)
	return p
}

func (e event) op() string {
	if e.value == nil {
		return "tombstone"
	}
	s, _ := e.payload()["op"].(string)
	return s
}

// consumer reads every topic matching a regex from the start.
type consumer struct {
	mu     sync.Mutex
	events []event
	cancel context.CancelFunc
	done   chan struct{}
}

func consume(t testing.TB, bootstrap, topicRegex string) *consumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeRegex(), kgo.ConsumeTopics(topicRegex),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				e := event{topic: r.Topic, partition: r.Partition, offset: r.Offset}
				if r.Key != nil {
					json.Unmarshal(r.Key, &e.key)
				}
				if r.Value != nil {
					json.Unmarshal(r.Value, &e.value)
				}
				c.mu.Lock()
				c.events = append(c.events, e)
				c.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func (c *consumer) all() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event(nil), c.events...)
}

func (c *consumer) topic(name string) []event {
	var out []event
	for _, e := range c.all() {
		if e.topic == name {
			out = append(out, e)
		}
	}
	return out
}

// caughtUp waits until the consumer has every record the broker holds now
// on the topics it reads, and returns how many events that is. After a
// worker is killed, that count separates what it delivered from what its
// successor delivers (the consumer may otherwise lag behind the kill).
func (c *consumer) caughtUp(t testing.TB, bootstrap string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx)
	if err != nil {
		t.Fatalf("listing end offsets: %v", err)
	}
	want := map[string]int64{} // "topic/partition" -> end offset
	ends.Each(func(o kadm.ListedOffset) {
		if strings.HasPrefix(o.Topic, "PostgreSQL_server.") && o.Err == nil && o.Offset > 0 {
			want[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset
		}
	})
	var n int
	c.wait(t, "the consumer to catch up", func(evs []event) bool {
		next := map[string]int64{}
		for _, e := range evs {
			k := fmt.Sprintf("%s/%d", e.topic, e.partition)
			next[k] = max(next[k], e.offset+1)
		}
		for k, end := range want {
			if next[k] < end {
				return false
			}
		}
		n = len(evs)
		return true
	})
	return n
}

// waitEvents waits until cond holds over the consumed events.
func (c *consumer) wait(t testing.TB, what string, cond func([]event) bool) []event {
	t.Helper()
	var evs []event
	deadline := time.Now().Add(90 * time.Second)
	for evs = c.all(); !cond(evs); evs = c.all() {
		if time.Now().After(deadline) {
			n := map[string]int{}
			for _, e := range evs {
				n[e.topic+" "+e.op()]++
			}
			t.Fatalf("gave up waiting for %s; consumed %v", what, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return evs
}

const placeholder = "__debezium_unavailable_value"

// fold replays a table's topic by key: the latest after image per key,
// deletes and tombstones removing it, truncates clearing all; TOAST
// placeholders keep the previous value.
func fold(evs []event) map[string]map[string]any {
	state := map[string]map[string]any{}
	for _, e := range evs {
		k, _ := json.Marshal(e.key["payload"])
		switch e.op() {
		case "tombstone", "d":
			delete(state, string(k))
		case "t":
			state = map[string]map[string]any{}
		case "c", "u", "r":
			after, _ := e.payload()["after"].(map[string]any)
			prev := state[string(k)]
			row := map[string]any{}
			for f, v := range after {
				if v == placeholder && prev != nil {
					v = prev[f]
				}
				row[f] = v
			}
			state[string(k)] = row
		}
	}
	return state
}

// tableRows reads a table as JSON rows keyed by the JSON of its key
// columns (in Debezium's key field order).
func tableRows(t testing.TB, dsn, table string, keyCols ...string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range pgQuery(t, dsn, "SELECT row_to_json(x) FROM "+table+" x") {
		var row map[string]any
		if err := json.Unmarshal([]byte(r[0]), &row); err != nil {
			t.Fatal(err)
		}
		var kb strings.Builder
		kb.WriteString("{")
		for i, k := range keyCols {
			if i > 0 {
				kb.WriteString(",")
			}
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(row[k])
			kb.Write(kj)
			kb.WriteString(":")
			kb.Write(vj)
		}
		kb.WriteString("}")
		out[kb.String()] = row
	}
	return out
}

func sameRows(t testing.TB, what string, got, want map[string]map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		var keys []string
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				keys = append(keys, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) > 5 {
			keys = keys[:5]
		}
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n key %s: topic %v, table %v", k, got[k], want[k])
		}
		t.Fatalf("%s: folded topic (%d keys) != table (%d rows):%s", what, len(got), len(want), b.String())
	}
}
