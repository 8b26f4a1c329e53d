package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// The schema registry and a Connect worker, as processes against three
// brokers in three zones, go on across failovers: the leader of _schemas
// is killed and a new schema version registers; the leader of a source
// connector's topic is killed while it writes, and every line of its file
// arrives.
func TestRegistryAndConnectAcrossFailovers(t *testing.T) {
	c := Start(t, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.WaitBrokers(ctx, 3)
	adm := c.Admin()
	bootstrap := strings.Join(c.Seeds(), ",")

	reg := testenv.StartProcess(t, "registry", "--bootstrap", bootstrap, "--registry-addr", "127.0.0.1:0",
		"--api-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	addr, err := reg.WaitLog(ctx, regexp.MustCompile(`schema registry listening"?.* addr=(\S+)`))
	if err != nil {
		t.Fatal(err)
	}
	registry := "http://" + addr
	schema := func(fields string) map[string]string {
		return map[string]string{"schema": `{"type":"record","name":"Order","fields":[` + fields + `]}`}
	}
	register := func(body map[string]string) {
		t.Helper()
		Eventually(ctx, t, "a schema registered", func() bool {
			st, _ := call(ctx, "POST", registry+"/subjects/orders-value/versions", body)
			return st == 200
		})
	}
	register(schema(`{"name":"id","type":"long"}`))

	// The leader of _schemas goes: the registry keeps taking writes.
	ps, err := Partitions(ctx, adm, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	victim := ps[0].Leader
	c.Kill(victim)
	c.WaitLeaderMoved(ctx, "_schemas", 0, victim)
	register(schema(`{"name":"id","type":"long"},{"name":"note","type":"string","default":""}`))
	st, body := call(ctx, "GET", registry+"/subjects/orders-value/versions", nil)
	if st != 200 || strings.TrimSpace(string(body)) != "[1,2]" {
		t.Fatalf("versions after the failover: %d %s", st, body)
	}
	c.StartNode(victim)
	c.WaitBrokers(ctx, 3)

	// A file source writes to a topic whose leader is killed mid-way.
	c.CreateTopic(ctx, adm, "lines", 1, 3)
	file := filepath.Join(t.TempDir(), "in.txt")
	writeLines := func(from, to int) {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line-%d\n", i)
		}
		f.Close()
	}
	writeLines(0, 100)
	_, connect := testenv.StartConnectWorker(t, bootstrap, "failover-connect")
	Eventually(ctx, t, "the source connector created", func() bool {
		st, _ := call(ctx, "POST", connect+"/connectors", map[string]any{"name": "src", "config": map[string]string{
			"connector.class": "FileStreamSource", "file": file, "topic": "lines",
			"value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
		return st == 201
	})
	read := map[string]bool{}
	rd := c.Client(kgo.ConsumeTopics("lines"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer rd.Close()
	readUntil := func(n int) {
		t.Helper()
		for len(read) < n {
			fs := rd.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d lines", len(read), n)
			}
			fs.EachRecord(func(r *kgo.Record) { read[string(r.Value)] = true })
		}
	}
	readUntil(100)
	ps, err = Partitions(ctx, adm, "lines")
	if err != nil {
		t.Fatal(err)
	}
	victim = ps[0].Leader
	c.Kill(victim)
	writeLines(100, 200)
	c.WaitLeaderMoved(ctx, "lines", 0, victim)
	readUntil(200)
	for i := range 200 {
		if !read[fmt.Sprintf("line-%d", i)] {
			t.Fatalf("line-%d never arrived", i)
		}
	}
	st, body = call(ctx, "GET", connect+"/connectors/src/status", nil)
	if st != 200 || strings.Contains(string(body), "FAILED") {
		t.Fatalf("connector status after the failover: %d %s", st, body)
	}
}

func call(ctx context.Context, method, url string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, rd)
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
