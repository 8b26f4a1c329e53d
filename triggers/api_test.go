package triggers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/triggers"
)

type fixture struct {
	api     *httptest.Server
	connect string
	cl      *kgo.Client
	reg     *prometheus.Registry
}

func setup(t *testing.T) *fixture {
	t.Helper()
	kafka := testenv.StartBroker(t).Addr
	w, err := connect.New(connect.Config{Bootstrap: []string{kafka}, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { return w.Ready() == nil })
	reg := prometheus.NewRegistry()
	api, err := triggers.New(triggers.Config{ConnectURL: "http://" + w.Addr(), Bootstrap: []string{kafka}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); srv.Close(); api.Close() })
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 2, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "failed"); err != nil {
		t.Fatal(err)
	}
	return &fixture{api: srv, connect: "http://" + w.Addr(), cl: cl, reg: reg}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func call(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestCRUD(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Records map[string][]struct {
				Offset int64 `json:"offset"`
			} `json:"records"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		for k := range ev.Records {
			got = append(got, k)
		}
		mu.Unlock()
	}))
	defer recv.Close()
	base := f.api.URL + "/api/v1/triggers"
	// Records before a LATEST trigger's creation are not delivered.
	if err := f.cl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Partition: 0, Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	st, out := call(t, "POST", base, map[string]any{"name": "t1", "url": recv.URL, "topics": []string{"events"}, "startingPosition": "LATEST",
		"maximumBatchingWindowInSeconds": 0, "destinationConfig": map[string]any{"onFailure": map[string]any{"destination": "kafka://failed"}}})
	if st != 201 || !strings.HasPrefix(out["secret"].(string), "whsec_") || out["batchSize"].(float64) != 100 || out["consumerGroupId"] != "connect-trigger-t1" {
		t.Fatalf("create: %d %v", st, out)
	}
	if st, out = call(t, "POST", base, map[string]any{"name": "t1", "url": recv.URL, "topics": []string{"events"}}); st != 409 {
		t.Fatalf("second create: %d %v", st, out)
	}
	if err := f.cl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Partition: 1, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if len(got) != 1 || got[0] != "events-1" {
		t.Fatalf("LATEST trigger delivered %v, want only the new record", got)
	}
	mu.Unlock()

	waitFor(t, func() bool { _, out = call(t, "GET", base+"/t1", nil); return out["state"] == "Enabled" })
	if out["secret"] != triggers.MaskedSecret || out["connector"] != "trigger-t1" {
		t.Fatalf("get: %v", out)
	}
	if _, out = call(t, "GET", base, nil); len(out["triggers"].([]any)) != 1 {
		t.Fatalf("list: %v", out)
	}
	st, out = call(t, "PUT", base+"/t1", map[string]any{"url": recv.URL, "topics": []string{"events"}, "batchSize": 50})
	if st != 200 || out["batchSize"].(float64) != 50 || out["secret"] != triggers.MaskedSecret {
		t.Fatalf("update: %d %v", st, out)
	}
	if st, _ = call(t, "POST", base+"/t1/disable", nil); st != 200 {
		t.Fatal("disable", st)
	}
	waitFor(t, func() bool { _, out = call(t, "GET", base+"/t1", nil); return out["state"] == "Disabled" })
	if st, _ = call(t, "POST", base+"/t1/enable", nil); st != 200 {
		t.Fatal("enable", st)
	}
	waitFor(t, func() bool { _, out = call(t, "GET", base+"/t1", nil); return out["state"] == "Enabled" })
	// The trigger is a connector everyone can see.
	if st, _ := call(t, "GET", f.connect+"/connectors/trigger-t1/status", nil); st != 200 {
		t.Fatal("connector status", st)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["sluice_trigger_records_delivered_total"] || !names["sluice_trigger_lag"] {
		t.Fatalf("metrics: %v", names)
	}
	if st, _ = call(t, "DELETE", base+"/t1", nil); st != 204 {
		t.Fatal("delete", st)
	}
	if st, out = call(t, "GET", base+"/t1", nil); st != 404 || !strings.Contains(out["message"].(string), "not found") {
		t.Fatalf("get after delete: %d %v", st, out)
	}
}

func TestBadInput(t *testing.T) {
	f := setup(t)
	base := f.api.URL + "/api/v1/triggers"
	ok := map[string]any{"name": "b", "url": "http://127.0.0.1:1/x", "topics": []string{"events"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for _, c := range []struct {
		body any
		want string
	}{
		{with("url", "not a url"), "url"},
		{with("url", "ftp://x/y"), "http"},
		{with("topics", []string{"nope"}), "unknown topic(s): nope"},
		{with("filterCriteria", map[string]any{"filters": []map[string]string{{"pattern": `{"value":"x"}`}}}), "filterCriteria"},
		{with("filterCriteria", map[string]any{"filters": []map[string]string{{"expression": `value +`}}}), "expression"},
		{with("batchSize", 10001), "batchSize"},
		{with("startingPosition", "AT_TIMESTAMP"), "startingPositionTimestamp"},
		{with("name", "bad name"), "name"},
		{with("consumerGroupId", "mine"), "consumerGroupId"},
		{with("destinationConfig", map[string]any{"onFailure": map[string]any{"destination": "events"}}), "loop"},
		{with("secret", "whsec_xx"), "secret"},
		{with("bogus", 1), "unknown field"},
		{"[]", "not a trigger"},
	} {
		st, out := call(t, "POST", base, c.body)
		msg, _ := out["message"].(string)
		if st != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: %d %q, want 400 mentioning %q", c.body, st, msg, c.want)
		}
	}
	if st, _ := call(t, "GET", base+"/none", nil); st != 404 {
		t.Fatal("unknown trigger", st)
	}
}
