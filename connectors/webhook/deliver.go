package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Failure conditions written in the failure record's requestContext.
const (
	CondRetriesExhausted = "RetryAttemptsExhausted"
	CondRecordAge        = "RecordAgeExceeded"
	CondNonRetryable     = "NonRetryableError"
)

// outcome is one request's result.
type outcome struct {
	status    int
	err       error         // transport error or timeout
	retryable bool          // 408, 429, 5xx, timeout, connection error
	failedAt  int           // partial batch reply: index of the first failed record, else -1
	after     time.Duration // Retry-After
}

func (o outcome) ok() bool { return o.err == nil && o.status/100 == 2 && o.failedAt < 0 }

// deliver sends recs until each is delivered or given up; attempts is how
// many failed attempts they already count. It returns false only when the
// task is stopping.
func (t *task) deliver(p *part, recs []*record, attempts int) bool {
	for {
		if t.ctx.Err() != nil {
			return false
		}
		if t.s.maxAge > 0 {
			var old, fresh []*record
			cut := time.Now().Add(-t.s.maxAge)
			for _, r := range recs {
				if r.ts.Before(cut) {
					old = append(old, r)
				} else {
					fresh = append(fresh, r)
				}
			}
			if len(old) > 0 {
				if !t.giveUp(p, old, CondRecordAge, attempts, outcome{failedAt: -1}) {
					return false
				}
				if recs = fresh; len(recs) == 0 {
					return true
				}
			}
		}
		o := t.post(p, recs)
		if o.ok() {
			t.m.delivered.Add(float64(len(recs)))
			t.m.batches.Inc()
			t.markDone(p, recs[len(recs)-1].offset)
			return true
		}
		if t.ctx.Err() != nil {
			return false
		}
		if o.failedAt > 0 {
			// The receiver took the records before the first failed one.
			t.m.delivered.Add(float64(o.failedAt))
			t.markDone(p, recs[o.failedAt-1].offset)
			recs = recs[o.failedAt:]
		}
		attempts++
		permanent := !o.retryable && o.failedAt < 0
		exhausted := t.s.maxRetries >= 0 && attempts > t.s.maxRetries
		if exhausted || (permanent && (!t.s.bisect || len(recs) == 1)) {
			cond := CondRetriesExhausted
			if permanent && !exhausted {
				cond = CondNonRetryable
			}
			return t.giveUp(p, recs, cond, attempts, o)
		}
		t.m.retries.Inc()
		if t.s.bisect && len(recs) > 1 {
			half := len(recs) / 2
			return t.deliver(p, recs[:half], attempts) && t.deliver(p, recs[half:], attempts)
		}
		if !sleep(t.ctx, t.backoff(attempts, o.after)) {
			return false
		}
	}
}

// backoff is exponential with jitter: a random delay in [d/2, d] where d
// doubles per attempt up to the maximum; a Retry-After raises it.
func (t *task) backoff(attempt int, after time.Duration) time.Duration {
	d := t.s.backoff
	for i := 1; i < attempt && d < t.s.backoffMax; i++ {
		d *= 2
	}
	d = min(d, t.s.backoffMax)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if after > d {
		d = min(after, t.s.backoffMax)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// MessageID is the webhook-id of a batch: stable across retries of the same
// records (and across redeliveries of the same range), so receivers can
// deduplicate.
func MessageID(trigger, topic string, partition int32, first, last int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d", trigger, topic, partition, first, last)
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Sign is the Standard Webhooks v1 signature of a message.
func Sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// post sends one batch and classifies the answer.
func (t *task) post(p *part, recs []*record) outcome {
	body := t.event(p, recs)
	ctx, cancel := context.WithTimeout(t.ctx, t.s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.s.url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err, failedAt: -1}
	}
	for k, v := range t.s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sluice-Webhook/"+version)
	id := MessageID(t.s.trigger, p.tp.Topic, p.tp.Partition, recs[0].offset, recs[len(recs)-1].offset)
	ts := time.Now().Unix()
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if t.s.secret != nil {
		req.Header.Set("webhook-signature", Sign(t.s.secret, id, ts, body))
	}
	req.Header.Set("webhook-kafka-topic", p.tp.Topic)
	req.Header.Set("webhook-kafka-partition", strconv.Itoa(int(p.tp.Partition)))
	req.Header.Set("webhook-kafka-offset", strconv.FormatInt(recs[0].offset, 10))
	start := time.Now()
	resp, err := t.client.Do(req)
	t.m.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.requests.WithLabelValues("error").Inc()
		return outcome{err: err, retryable: true, failedAt: -1}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	t.m.requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	o := outcome{status: resp.StatusCode, failedAt: -1}
	switch {
	case resp.StatusCode/100 == 2:
		if o.failedAt = partialFailure(data, recs); o.failedAt >= 0 {
			o.err = fmt.Errorf("partial batch response: records from offset %d failed", recs[o.failedAt].offset)
		}
	case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 500:
		o.retryable = true
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			o.after = time.Duration(s) * time.Second
		}
	}
	if !o.ok() && o.err == nil && o.status/100 != 2 {
		o.err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data[:min(len(data), 200)]))
	}
	return o
}

// partialFailure reads Lambda's partial batch response,
// {"batchItemFailures":[{"itemIdentifier":"<offset>"}]}: it returns the
// index of the first failed record, -1 when none failed, 0 (the whole batch)
// when an identifier is empty or not in the batch, as Lambda does.
func partialFailure(body []byte, recs []*record) int {
	var r struct {
		Failures []struct {
			ID json.RawMessage `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &r) != nil || len(r.Failures) == 0 {
		return -1
	}
	first := -1
	for _, f := range r.Failures {
		var s string
		if json.Unmarshal(f.ID, &s) != nil {
			s = string(f.ID) // a bare number
		}
		off, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0
		}
		idx := -1
		for i, rec := range recs {
			if rec.offset == off {
				idx = i
				break
			}
		}
		if idx < 0 {
			return 0
		}
		if first < 0 || idx < first {
			first = idx
		}
	}
	return first
}

// Arn is the eventSourceArn of a trigger's events.
func Arn(trigger string) string { return "arn:sluice:kafka:::trigger/" + trigger }

// event encodes the Lambda Kafka event for one partition's batch.
func (t *task) event(p *part, recs []*record) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(recs)*(200+len(recs[0].value)*4/3))
	b.WriteString(`{"eventSource":`)
	writeString(&b, t.s.eventSource)
	b.WriteString(`,"eventSourceArn":`)
	writeString(&b, Arn(t.s.trigger))
	b.WriteString(`,"bootstrapServers":`)
	writeString(&b, t.boot)
	b.WriteString(`,"records":{`)
	writeString(&b, p.tp.Topic+"-"+strconv.Itoa(int(p.tp.Partition)))
	b.WriteString(":[")
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"topic":`)
		writeString(&b, r.topic)
		fmt.Fprintf(&b, `,"partition":%d,"offset":%d,"timestamp":%d,"timestampType":"CREATE_TIME"`, r.partition, r.offset, r.ts.UnixMilli())
		if r.key != nil {
			b.WriteString(`,"key":"`)
			b.WriteString(base64.StdEncoding.EncodeToString(r.key))
			b.WriteByte('"')
		}
		if r.value != nil {
			b.WriteString(`,"value":"`)
			b.WriteString(base64.StdEncoding.EncodeToString(r.value))
			b.WriteByte('"')
		}
		b.WriteString(`,"headers":[`)
		for j, h := range r.headers {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			writeString(&b, h.Key)
			b.WriteString(":[")
			for k, c := range h.Value {
				if k > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(int(c)))
			}
			b.WriteString("]}")
		}
		b.WriteString("]}")
	}
	b.WriteString("]}}")
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// failureRecord is Lambda's invocation record for a discarded Kafka batch,
// with the whole event as payload so the records themselves are kept.
type failureRecord struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	KafkaBatchInfo struct {
		BatchSize        int    `json:"batchSize"`
		BootstrapServers string `json:"bootstrapServers"`
		ConsumerGroupID  string `json:"consumerGroupId"`
		PayloadSize      int    `json:"payloadSize"`
		RecordsInfo      []struct {
			Offset    string `json:"offset"`
			Timestamp string `json:"timestamp"`
		} `json:"recordsInfo"`
		Topic          string `json:"topic"`
		Partition      int32  `json:"partition"`
		FirstOffset    int64  `json:"firstOffset"`
		LastOffset     int64  `json:"lastOffset"`
		EventSourceArn string `json:"eventSourceArn"`
	} `json:"KafkaBatchInfo"`
	Payload json.RawMessage `json:"payload"`
}

// giveUp writes recs to the on-failure topic (or drops them when there is
// none) and marks them done. The write is retried until it succeeds or the
// task stops: records are never skipped without a trace.
func (t *task) giveUp(p *part, recs []*record, cond string, attempts int, o outcome) bool {
	t.m.failed.WithLabelValues(cond).Add(float64(len(recs)))
	if t.s.onFailure == "" {
		t.markDone(p, recs[len(recs)-1].offset)
		return true
	}
	payload := t.event(p, recs)
	var fr failureRecord
	first, last := recs[0].offset, recs[len(recs)-1].offset
	fr.RequestContext.RequestID = MessageID(t.s.trigger, p.tp.Topic, p.tp.Partition, first, last)
	fr.RequestContext.FunctionArn = t.s.url
	fr.RequestContext.Condition = cond
	fr.RequestContext.ApproximateInvokeCount = attempts
	fr.ResponseContext.StatusCode = o.status
	fr.ResponseContext.ExecutedVersion = "$LATEST"
	if o.err != nil {
		fr.ResponseContext.FunctionError = o.err.Error()
	}
	fr.Version = "1.0"
	fr.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	bi := &fr.KafkaBatchInfo
	bi.BatchSize, bi.BootstrapServers, bi.ConsumerGroupID, bi.PayloadSize = len(recs), t.boot, "connect-trigger-"+t.s.trigger, len(payload)
	bi.Topic, bi.Partition, bi.FirstOffset, bi.LastOffset, bi.EventSourceArn = p.tp.Topic, p.tp.Partition, first, last, Arn(t.s.trigger)
	for _, r := range recs {
		bi.RecordsInfo = append(bi.RecordsInfo, struct {
			Offset    string `json:"offset"`
			Timestamp string `json:"timestamp"`
		}{strconv.FormatInt(r.offset, 10), r.ts.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	fr.Payload = payload
	v, _ := json.Marshal(&fr)
	rec := &kgo.Record{Topic: t.s.onFailure, Key: []byte(p.tp.Topic + "-" + strconv.Itoa(int(p.tp.Partition))), Value: v}
	for attempt := 1; ; attempt++ {
		err := t.producer.ProduceSync(t.ctx, rec).FirstErr()
		if err == nil {
			break
		}
		if errors.Is(err, context.Canceled) || t.ctx.Err() != nil || !sleep(t.ctx, t.backoff(attempt, 0)) {
			return false
		}
	}
	t.m.sentToFailure.Add(float64(len(recs)))
	t.markDone(p, last)
	return true
}
