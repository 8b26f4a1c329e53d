package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/triggers"
)

// env is a broker, an in-process Connect worker and the trigger API.
type env struct {
	kafka   string
	connect string
	api     *httptest.Server
	cl      *kgo.Client
	adm     *kadm.Client
}

func newEnv(t testing.TB) *env {
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
	waitFor(t, "worker ready", func() bool { return w.Ready() == nil })
	return newEnvWith(t, kafka, "http://"+w.Addr())
}

func newEnvWith(t testing.TB, kafka, connectURL string) *env {
	t.Helper()
	api, err := triggers.New(triggers.Config{ConnectURL: connectURL, Bootstrap: []string{kafka}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); srv.Close(); api.Close() })
	return &env{kafka: kafka, connect: connectURL, api: srv, cl: cl, adm: kadm.NewClient(cl)}
}

func (e *env) topic(t testing.TB, name string, partitions int32) {
	t.Helper()
	if _, err := e.adm.CreateTopic(context.Background(), partitions, 1, nil, name); err != nil {
		t.Fatal(err)
	}
}

// do calls the trigger API.
func (e *env) do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.api.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) createTrigger(t testing.TB, spec map[string]any) {
	t.Helper()
	if st, b := e.do(t, "POST", "/api/v1/triggers", spec); st != 201 {
		t.Fatalf("create trigger: %d %s", st, b)
	}
}

// produce writes n records to topic partition p with keys k<i> and values
// of size bytes (at least the JSON {"i":<i>}).
func (e *env) produce(t testing.TB, topic string, p int32, from, n, size int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		v := []byte(fmt.Sprintf(`{"i":%d,"p":%d,"pad":"%s"}`, i, p, strings.Repeat("x", max(0, size-30))))
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k" + strconv.Itoa(i)), Value: v,
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{1, 200}}}})
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// event is the Lambda Kafka event as a handler reads it.
type event struct {
	EventSource      string `json:"eventSource"`
	EventSourceArn   string `json:"eventSourceArn"`
	BootstrapServers string `json:"bootstrapServers"`
	Records          map[string][]struct {
		Topic         string             `json:"topic"`
		Partition     int32              `json:"partition"`
		Offset        int64              `json:"offset"`
		Timestamp     int64              `json:"timestamp"`
		TimestampType string             `json:"timestampType"`
		Key           string             `json:"key"`
		Value         string             `json:"value"`
		Headers       []map[string][]int `json:"headers"`
	} `json:"records"`
}

// batch is one request the receiver got.
type batch struct {
	id        string
	partition int32
	offsets   []int64
	values    [][]byte
	arrived   time.Time
	status    int
}

// receiver is a webhook endpoint on 127.0.0.1 that verifies every request
// with an independent Standard Webhooks verifier and records the batches.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string
	// answer decides the reply (status, body); nil means 200 and no body.
	answer func(b *batch, attempt int) (int, string)

	mu       sync.Mutex
	batches  []*batch // every request, in arrival order
	attempts map[string]int
	inflight map[int32]int
	overlap  bool // two requests of one partition at once
	badSig   []string
}

func newReceiver(t testing.TB, secret string) *receiver {
	r := &receiver{t: t, secret: secret, attempts: map[string]int{}, inflight: map[int32]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if r.secret != "" {
		if err := verifyStandardWebhook(r.secret, req.Header, body, time.Now()); err != nil {
			r.mu.Lock()
			r.badSig = append(r.badSig, err.Error())
			r.mu.Unlock()
		}
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad event", 400)
		return
	}
	b := &batch{id: req.Header.Get("webhook-id"), arrived: time.Now(), partition: -1}
	for _, recs := range ev.Records {
		for _, rec := range recs {
			b.partition = rec.Partition
			b.offsets = append(b.offsets, rec.Offset)
			v, _ := base64.StdEncoding.DecodeString(rec.Value)
			b.values = append(b.values, v)
		}
	}
	r.mu.Lock()
	r.inflight[b.partition]++
	if r.inflight[b.partition] > 1 {
		r.overlap = true
	}
	r.attempts[b.id]++
	attempt := r.attempts[b.id]
	r.mu.Unlock()
	status, reply := 200, ""
	if r.answer != nil {
		status, reply = r.answer(b, attempt)
	}
	if status == 0 { // hang until the sender gives up
		<-req.Context().Done()
	}
	b.status = status
	r.mu.Lock()
	r.inflight[b.partition]--
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	if status == 0 {
		return
	}
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

// delivered returns, per partition, the offsets of 2xx batches in order.
func (r *receiver) delivered() map[int32][]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int32][]int64{}
	for _, b := range r.batches {
		if b.status/100 == 2 {
			out[b.partition] = append(out[b.partition], b.offsets...)
		}
	}
	return out
}

func (r *receiver) snapshot() []*batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*batch(nil), r.batches...)
}

// verifyStandardWebhook checks a request as the Standard Webhooks
// specification says a receiver must, written from the specification and
// sharing no code with the sender: the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>", the key is the base64 part of
// the whsec_ secret, the signature HMAC-SHA256 in base64 after "v1,", and
// webhook-signature may list several space-separated signatures. The
// timestamp must be within five minutes.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp too far from now")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		ver, sig, ok := strings.Cut(s, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", sigs)
}

// committed reads the trigger's group offsets.
func (e *env) committed(t testing.TB, trigger string) map[string]map[int32]int64 {
	t.Helper()
	or, err := e.adm.FetchOffsets(context.Background(), triggers.GroupID(trigger))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	or.Each(func(o kadm.OffsetResponse) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out
}

// consumeAll reads a topic from the start until it has n records.
func (e *env) consumeAll(t testing.TB, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// waitFor is waitFor that logs the receiver's requests when it fails.
func (r *receiver) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, b := range r.snapshot() {
				t.Logf("p%d %v -> %d", b.partition, b.offsets, b.status)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
