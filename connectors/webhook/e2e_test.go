package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func checkOrdered(t *testing.T, got map[int32][]int64, want map[int32]int) {
	t.Helper()
	for p, n := range want {
		offs := got[p]
		if len(offs) != n {
			t.Fatalf("partition %d: %d records delivered, want %d", p, len(offs), n)
		}
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d (out of order or missing)", p, i, o)
			}
		}
	}
}

// TestDelivery: Lambda event shape, batch size, order per partition with
// concurrency, one batch in flight per partition, signature, and the
// window gathering records produced apart into one batch.
func TestDelivery(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "orders", 3)
	r := newReceiver(t, secret)
	r.answer = func(*batch, int) (int, string) {
		time.Sleep(2 * time.Millisecond) // let partitions overlap
		return 200, ""
	}
	e.createTrigger(t, map[string]any{"name": "orders", "url": r.srv.URL, "topics": []string{"orders"},
		"batchSize": 7, "maximumBatchingWindowInSeconds": 0, "concurrency": 3, "secret": secret})
	for p := int32(0); p < 3; p++ {
		e.produce(t, "orders", p, 0, 60, 100)
	}
	waitFor(t, "all records", func() bool {
		d := r.delivered()
		return len(d[0]) >= 60 && len(d[1]) >= 60 && len(d[2]) >= 60
	})
	time.Sleep(200 * time.Millisecond) // anything extra (a duplicate) would show
	checkOrdered(t, r.delivered(), map[int32]int{0: 60, 1: 60, 2: 60})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overlap {
		t.Fatal("two batches of one partition were in flight at once")
	}
	if len(r.badSig) > 0 {
		t.Fatalf("signature check failed: %v", r.badSig)
	}
	parts := map[int32]bool{}
	for _, b := range r.batches {
		if len(b.offsets) > 7 {
			t.Fatalf("batch of %d records, batchSize 7", len(b.offsets))
		}
		parts[b.partition] = true
		var v struct{ I, P int }
		if err := json.Unmarshal(b.values[0], &v); err != nil || int64(v.I) != b.offsets[0] || int32(v.P) != b.partition {
			t.Fatalf("value %q does not match partition %d offset %d", b.values[0], b.partition, b.offsets[0])
		}
	}
	if len(parts) != 3 {
		t.Fatalf("partitions seen: %v", parts)
	}
}

// TestEventShapeAndWindow: records produced apart within the window come
// as one batch, in the Lambda event format.
func TestEventShapeAndWindow(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "w", 1)
	var raw []byte
	r := newReceiver(t, "")
	r.srv.Config.Handler = wrapRaw(r, &raw)
	e.createTrigger(t, map[string]any{"name": "w", "url": r.srv.URL, "topics": []string{"w"}, "batchSize": 100,
		"maximumBatchingWindowInSeconds": 3})
	for i := 0; i < 4; i++ {
		e.produce(t, "w", 0, i, 1, 10)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "the batch", func() bool { return len(r.delivered()[0]) >= 4 })
	if bs := r.snapshot(); len(bs) != 1 || len(bs[0].offsets) != 4 {
		t.Fatalf("want one batch of 4 records within the window, got %d batches", len(bs))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	recs := ev.Records["w-0"]
	if ev.EventSource != "SelfManagedKafka" || ev.EventSourceArn != "arn:sluice:kafka:::trigger/w" || ev.BootstrapServers != e.kafka || len(recs) != 4 {
		t.Fatalf("event: %s", raw)
	}
	rec := recs[1]
	if rec.Topic != "w" || rec.Offset != 1 || rec.TimestampType != "CREATE_TIME" || rec.Timestamp == 0 || rec.Key != "azE=" ||
		len(rec.Headers) != 1 || !slices.Equal(rec.Headers[0]["h"], []int{1, 200}) {
		t.Fatalf("record: %+v", rec)
	}
}

// TestFailingPartitionBlocksOnlyItself: a receiver answering 500 for
// partition 0's batch holding offset 5 keeps only partition 0 waiting: the
// other partition is delivered meanwhile; the batch is retried with the
// same webhook-id and then delivered in order.
func TestFailingPartitionBlocksOnlyItself(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "blk", 2)
	r := newReceiver(t, "")
	var p1Done bool
	r.answer = func(b *batch, _ int) (int, string) {
		if b.partition == 0 && slices.Contains(b.offsets, 5) && !p1Done {
			d := 0
			for _, x := range r.snapshot() {
				if x.partition == 1 && x.status == 200 {
					d += len(x.offsets)
				}
			}
			if d < 50 {
				return 500, "not yet"
			}
			p1Done = true
		}
		return 200, ""
	}
	e.createTrigger(t, map[string]any{"name": "blk", "url": r.srv.URL, "topics": []string{"blk"}, "batchSize": 5,
		"maximumBatchingWindowInSeconds": 0, "retryBackoffMs": 20, "retryBackoffMaxMs": 100})
	e.produce(t, "blk", 0, 0, 20, 10)
	waitFor(t, "partition 0 stuck at offset 5", func() bool { return len(r.delivered()[0]) == 5 && len(r.snapshot()) > 2 })
	e.produce(t, "blk", 1, 0, 50, 10)
	r.waitFor(t, "everything", func() bool { d := r.delivered(); return len(d[0]) == 20 && len(d[1]) == 50 })
	checkOrdered(t, r.delivered(), map[int32]int{0: 20, 1: 50})
	var failed []*batch
	for _, b := range r.snapshot() {
		if b.partition == 0 && slices.Contains(b.offsets, 5) {
			failed = append(failed, b)
		}
	}
	if len(failed) < 2 || failed[0].status != 500 || failed[len(failed)-1].status != 200 {
		t.Fatalf("offset 5 batch: %d attempts", len(failed))
	}
	for _, b := range failed {
		if b.id != failed[0].id {
			t.Fatalf("webhook-id changed across retries: %s vs %s", b.id, failed[0].id)
		}
	}
}

// TestOnFailureTopicWithBisect: with retries exhausted the failing half
// goes to the on-failure topic as Lambda's failure record, and delivery
// moves on.
func TestOnFailureTopicWithBisect(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "src", 1)
	e.topic(t, "dlq", 1)
	r := newReceiver(t, "")
	r.answer = func(b *batch, _ int) (int, string) {
		if slices.Contains(b.offsets, 5) {
			return 500, "boom"
		}
		return 200, ""
	}
	e.produce(t, "src", 0, 0, 16, 10)
	e.createTrigger(t, map[string]any{"name": "bis", "url": r.srv.URL, "topics": []string{"src"}, "batchSize": 8,
		"maximumBatchingWindowInSeconds": 0.2, "maximumRetryAttempts": 2, "bisectBatchOnFunctionError": true,
		"retryBackoffMs": 10, "retryBackoffMaxMs": 50, "destinationConfig": map[string]any{"onFailure": map[string]any{"destination": "kafka://dlq"}}})
	recs := e.consumeAll(t, "dlq", 1)
	var fr struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		ResponseContext struct {
			StatusCode int `json:"statusCode"`
		} `json:"responseContext"`
		KafkaBatchInfo struct {
			BatchSize   int   `json:"batchSize"`
			FirstOffset int64 `json:"firstOffset"`
			LastOffset  int64 `json:"lastOffset"`
		} `json:"KafkaBatchInfo"`
		Payload event `json:"payload"`
	}
	if err := json.Unmarshal(recs[0].Value, &fr); err != nil {
		t.Fatal(err)
	}
	bi := fr.KafkaBatchInfo
	if fr.RequestContext.Condition != "RetryAttemptsExhausted" || fr.ResponseContext.StatusCode != 500 || bi.FirstOffset > 5 || bi.LastOffset < 5 ||
		bi.BatchSize >= 8 || len(fr.Payload.Records["src-0"]) != bi.BatchSize || string(recs[0].Key) != "src-0" {
		t.Fatalf("failure record: %s", recs[0].Value)
	}
	waitFor(t, "the rest delivered", func() bool { return len(r.delivered()[0]) == 16-bi.BatchSize })
	got := r.delivered()[0]
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	for _, o := range got {
		if o >= bi.FirstOffset && o <= bi.LastOffset {
			t.Fatalf("offset %d both delivered and failed", o)
		}
	}
}

// TestTimeoutAndPartialFailure: a hanging receiver hits the timeout and the
// batch is retried; a partial-batch reply retries from the first failed
// item only.
func TestTimeoutAndPartialFailure(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "tp", 1)
	r := newReceiver(t, "")
	r.answer = func(b *batch, attempt int) (int, string) {
		switch {
		case b.offsets[0] == 0 && attempt == 1:
			return 0, "" // hang
		case b.offsets[0] == 0 && attempt == 2:
			return 200, `{"batchItemFailures":[{"itemIdentifier":"6"},{"itemIdentifier":"8"}]}`
		}
		return 200, ""
	}
	e.produce(t, "tp", 0, 0, 10, 10)
	e.createTrigger(t, map[string]any{"name": "tp", "url": r.srv.URL, "topics": []string{"tp"}, "batchSize": 10,
		"maximumBatchingWindowInSeconds": 1, "timeout": 0.3, "retryBackoffMs": 10})
	waitFor(t, "all records", func() bool { return len(r.snapshot()) >= 3 })
	bs := r.snapshot()
	if len(bs) != 3 || bs[0].status != 0 || len(bs[1].offsets) != 10 || bs[2].offsets[0] != 6 || len(bs[2].offsets) != 4 {
		for _, b := range bs {
			t.Logf("batch %v status %d", b.offsets, b.status)
		}
		t.Fatal("want: a hung request, then 0..9 with 6 and 8 failing, then 6..9")
	}
}

// TestFilters: Lambda patterns and expressions; filtered records are not
// delivered but their offsets are committed.
func TestFilters(t *testing.T) {
	e := newEnv(t)
	e.topic(t, "f", 1)
	r := newReceiver(t, "")
	e.createTrigger(t, map[string]any{"name": "f", "url": r.srv.URL, "topics": []string{"f"}, "maximumBatchingWindowInSeconds": 0,
		"filterCriteria": map[string]any{"filters": []map[string]string{
			{"pattern": `{"value":{"i":[{"numeric":["<",3]}]}}`},
			{"expression": `value.i == 7 && headers.h != ""`},
		}}})
	e.produce(t, "f", 0, 0, 10, 10)
	waitFor(t, "filtered records", func() bool { return len(r.delivered()[0]) >= 4 })
	waitFor(t, "offsets committed", func() bool {
		e.produce(t, "f", 0, 100, 1, 10)
		return e.committed(t, "f")["f"][0] >= 10
	})
	got := r.delivered()[0]
	if !slices.Equal(got[:4], []int64{0, 1, 2, 7}) {
		t.Fatalf("delivered %v, want 0 1 2 7", got)
	}
}

// wrapRaw keeps the first request's body in *raw, then serves as r does.
func wrapRaw(r *receiver, raw *[]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		if *raw == nil {
			*raw = body
		}
		r.mu.Unlock()
		req.Body = io.NopCloser(bytesReader(body))
		r.serve(w, req)
	})
}
