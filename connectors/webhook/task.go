package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

// putBlockMax bounds how long Put waits for buffer room. The runtime gives
// Put no context, so a Put blocked behind a receiver that never recovers
// would keep the worker from stopping the task; past this bound Put accepts
// the records over the limit (and logs nothing louder than a metric).
// It stays under the runtime's 15 s stop grace so a stopping task still
// commits what it delivered.
var putBlockMax = 10 * time.Second

// record is a sink record reduced to what the Lambda event carries.
type record struct {
	topic     string
	partition int32
	offset    int64
	ts        time.Time
	key       []byte
	value     []byte
	headers   []plugin.Header
	arrived   time.Time
}

// part is one partition's delivery state. Fields are guarded by task.mu.
type part struct {
	tp    plugin.TopicPartition
	queue []*record
	// high is the offset after the last record put; done the offset after
	// the last record delivered or given up; next the first offset of the
	// batch in flight not yet done, or -1.
	high, done, next int64
	wake             chan struct{} // cap 1: records were queued
}

// committable is the offset safe to commit: everything before it was
// delivered, given up, or filtered out.
func (p *part) committable() int64 {
	switch {
	case p.next >= 0:
		return p.next
	case len(p.queue) > 0:
		return p.queue[0].offset
	}
	return p.high
}

// task is the sink task: Put queues records per partition, one goroutine per
// partition delivers them in order, at most one batch in flight each.
type task struct {
	s        *settings
	client   *http.Client
	producer *kgo.Client
	boot     string
	m        *triggerMetrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // concurrency slots

	mu    sync.Mutex
	parts map[plugin.TopicPartition]*part
	room  chan struct{} // closed and replaced when queues shrink
}

func (t *task) Start(ctx plugin.TaskContext, cfg map[string]string) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	t.s = s
	t.producer = ctx.Producer()
	t.boot = strings.Join(ctx.Bootstrap(), ",")
	t.m = metricsFor(s.trigger)
	t.client = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: s.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.sem = make(chan struct{}, s.concurrency)
	t.parts = map[plugin.TopicPartition]*part{}
	t.room = make(chan struct{})
	return nil
}

func toBytes(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	b, _ := json.Marshal(v)
	return b
}

// Put queues records for delivery. It blocks while a partition's buffer is
// full (up to putBlockMax), so a slow receiver slows consumption.
func (t *task) Put(recs []*plugin.SinkRecord) error {
	now := time.Now()
	for _, sr := range recs {
		r := &record{topic: sr.Topic, partition: sr.Partition, offset: sr.Offset, ts: sr.Timestamp,
			key: toBytes(sr.Key), value: toBytes(sr.Value), headers: sr.Headers, arrived: now}
		pass := t.s.filters.Match(r)
		if !pass {
			t.m.filtered.Inc()
		}
		tp := plugin.TopicPartition{Topic: sr.Topic, Partition: sr.Partition}
		t.mu.Lock()
		p := t.partLocked(tp)
		if pass {
			deadline := time.Now().Add(putBlockMax)
			for len(p.queue) >= t.s.buffer && time.Now().Before(deadline) && t.ctx.Err() == nil {
				ch := t.room
				t.mu.Unlock()
				tm := time.NewTimer(time.Until(deadline))
				select {
				case <-ch:
				case <-tm.C:
				case <-t.ctx.Done():
				}
				tm.Stop()
				t.mu.Lock()
			}
		}
		switch {
		case r.offset < p.done:
			// Fetched again (the partition came back after a rebalance):
			// this task already delivered it.
		case r.offset < p.high:
			// The consumer rewound: drop what is queued from here on.
			q := p.queue[:0]
			for _, x := range p.queue {
				if x.offset < r.offset {
					q = append(q, x)
				}
			}
			t.m.buffered.Sub(float64(len(p.queue) - len(q)))
			p.queue = q
			fallthrough
		default:
			if pass {
				p.queue = append(p.queue, r)
				t.m.buffered.Inc()
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
			p.high = r.offset + 1
		}
		t.mu.Unlock()
	}
	return nil
}

func (t *task) bufferedLocked() int {
	n := 0
	for _, p := range t.parts {
		n += len(p.queue)
	}
	return n
}

func (t *task) partLocked(tp plugin.TopicPartition) *part {
	p := t.parts[tp]
	if p == nil {
		p = &part{tp: tp, next: -1, wake: make(chan struct{}, 1)}
		t.parts[tp] = p
		// A Put racing Stop queues without a sender: Stop cancels under
		// t.mu, so no goroutine is added once its Wait may have begun.
		if t.ctx.Err() == nil {
			t.wg.Add(1)
			go t.run(p)
		}
	}
	return p
}

// Flush does nothing: delivery is asynchronous and PreCommit reports what
// was delivered.
func (t *task) Flush(map[plugin.TopicPartition]int64) error { return nil }

// PreCommit returns, per partition, the offset after the last record
// delivered (or given up or filtered out) with nothing undelivered before
// it: offsets are committed only after a 2xx.
func (t *task) PreCommit(map[plugin.TopicPartition]int64) (map[plugin.TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[plugin.TopicPartition]int64, len(t.parts))
	for tp, p := range t.parts {
		if c := p.committable(); c > 0 {
			out[tp] = c
		}
	}
	return out, nil
}

// Stop ends every delivery goroutine; an in-flight request is abandoned and
// its records, never committed, come again to the next owner.
func (t *task) Stop() error {
	if t.cancel == nil {
		return nil
	}
	t.mu.Lock()
	t.cancel()
	t.mu.Unlock()
	t.wg.Wait()
	t.mu.Lock()
	t.m.buffered.Sub(float64(t.bufferedLocked()))
	t.mu.Unlock()
	t.client.CloseIdleConnections()
	return nil
}

// run delivers one partition's records in order, one batch at a time.
func (t *task) run(p *part) {
	defer t.wg.Done()
	for {
		t.mu.Lock()
		n := len(p.queue)
		var first time.Time
		if n > 0 {
			first = p.queue[0].arrived
		}
		t.mu.Unlock()
		if n == 0 {
			select {
			case <-p.wake:
				continue
			case <-t.ctx.Done():
				return
			}
		}
		if n < t.s.batchSize {
			if wait := time.Until(first.Add(t.s.window)); wait > 0 {
				tm := time.NewTimer(wait)
				select {
				case <-p.wake:
					tm.Stop()
					continue // more records: recheck the size
				case <-tm.C:
				case <-t.ctx.Done():
					tm.Stop()
					return
				}
			}
		}
		select {
		case t.sem <- struct{}{}:
		case <-t.ctx.Done():
			return
		}
		t.mu.Lock()
		k := min(len(p.queue), t.s.batchSize)
		if k == 0 { // a rewind emptied the queue meanwhile
			t.mu.Unlock()
			<-t.sem
			continue
		}
		batch := t.cutPayload(p.queue[:k])
		p.queue = p.queue[len(batch):]
		t.m.buffered.Sub(float64(len(batch)))
		p.next = batch[0].offset
		close(t.room)
		t.room = make(chan struct{})
		t.mu.Unlock()
		ok := t.deliver(p, batch, 0)
		<-t.sem
		if !ok {
			return // stopping
		}
		t.mu.Lock()
		p.next = -1
		t.mu.Unlock()
	}
}

// maxPayload is Lambda's synchronous invocation payload limit.
const maxPayload = 6 << 20

// cutPayload shortens a batch so its event stays under maxPayload (base64
// grows data by 4/3; headers as byte arrays by about 4x). At least one
// record always goes.
func (t *task) cutPayload(b []*record) []*record {
	size := 256
	for i, r := range b {
		n := 160 + len(r.topic) + (len(r.key)+len(r.value))*4/3
		for _, h := range r.headers {
			n += len(h.Key) + 8 + 4*len(h.Value)
		}
		size += n
		if size > maxPayload && i > 0 {
			return b[:i]
		}
	}
	return b
}

// markDone records that the records up to and including offset are
// delivered or given up.
func (t *task) markDone(p *part, offset int64) {
	t.mu.Lock()
	p.done = offset + 1
	p.next = offset + 1
	t.mu.Unlock()
}
