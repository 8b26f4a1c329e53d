package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTopic is the topic Confluent's registry and Karapace use.
const DefaultTopic = "_schemas"

// Config configures a Log.
type Config struct {
	// Bootstrap are the Kafka seed brokers.
	Bootstrap []string
	// Topic defaults to _schemas.
	Topic string
	// ClientOpts are added to every franz-go client (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	Logger     *slog.Logger
}

// Log is the _schemas topic: one consumer applies every record in order to
// the caller's state, and writes wait until their records are applied, so a
// write's effect is visible to the next read (read-your-writes).
type Log struct {
	cfg      Config
	apply    func(Record)
	consumer *kgo.Client
	producer *kgo.Client
	admin    *kadm.Client
	log      *slog.Logger

	mu      sync.Mutex
	applied int64         // offset of the next record to apply
	changed chan struct{} // closed and replaced whenever applied moves
}

// Open connects to Kafka, creates the topic if missing (one partition,
// compacted, as Confluent does) and checks an existing one has one partition.
// apply receives every record in topic order from the goroutine running Run;
// records that do not decode are logged and skipped.
func Open(ctx context.Context, cfg Config, apply func(Record)) (*Log, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("schema registry store: no bootstrap brokers")
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...)}, cfg.ClientOpts...)
	producer, err := kgo.NewClient(append(base,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, apply: apply, producer: producer, admin: kadm.NewClient(producer), log: cfg.Logger, changed: make(chan struct{})}
	if err := l.ensureTopic(ctx); err != nil {
		producer.Close()
		return nil, err
	}
	l.consumer, err = kgo.NewClient(append(base,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)...)
	if err != nil {
		producer.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) ensureTopic(ctx context.Context) error {
	md, err := l.admin.Metadata(ctx, l.cfg.Topic)
	if err != nil {
		return fmt.Errorf("schema registry store: metadata: %w", err)
	}
	if td, ok := md.Topics[l.cfg.Topic]; ok && td.Err == nil {
		if n := len(td.Partitions); n != 1 {
			return fmt.Errorf("schema registry store: topic %s has %d partitions, want 1", l.cfg.Topic, n)
		}
		return nil
	}
	rf := int16(len(md.Brokers))
	if rf > 3 {
		rf = 3
	}
	if rf < 1 {
		rf = 1
	}
	compact := "compact"
	_, err = l.admin.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": &compact}, l.cfg.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("schema registry store: create %s: %w", l.cfg.Topic, err)
	}
	return nil
}

// Run consumes the topic until ctx ends.
func (l *Log) Run(ctx context.Context) error {
	for {
		fs := l.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errs := fs.Errors(); len(errs) > 0 {
			for _, e := range errs {
				if errors.Is(e.Err, context.Canceled) {
					return nil
				}
				l.log.Warn("schema registry: fetching _schemas", "topic", e.Topic, "err", e.Err)
			}
			if fs.NumRecords() == 0 {
				// Back off rather than spin while Kafka is unwell.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		}
		var last int64 = -1
		fs.EachRecord(func(r *kgo.Record) {
			rec, err := Decode(r.Key, r.Value)
			if err != nil {
				if !errors.Is(err, ErrUnknownKeyType) {
					l.log.Warn("schema registry: skipping undecodable _schemas record", "offset", r.Offset, "err", err)
				}
			} else {
				l.apply(rec)
			}
			last = r.Offset
		})
		if last >= 0 {
			l.advance(last + 1)
		}
	}
}

func (l *Log) advance(next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if next > l.applied {
		l.applied = next
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// Applied is the offset of the next record to apply.
func (l *Log) Applied() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// WaitApplied blocks until every record before offset next is applied.
func (l *Log) WaitApplied(ctx context.Context, next int64) error {
	for {
		l.mu.Lock()
		applied, ch := l.applied, l.changed
		l.mu.Unlock()
		if applied >= next {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Write produces records with acks=all, in order, and returns once the
// consumer has applied them.
func (l *Log) Write(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		k, v, err := r.Encode()
		if err != nil {
			return err
		}
		krs = append(krs, &kgo.Record{Key: k, Value: v, Partition: 0})
	}
	res := l.producer.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", l.cfg.Topic, err)
	}
	var maxOff int64
	for _, r := range res {
		if r.Record.Offset > maxOff {
			maxOff = r.Record.Offset
		}
	}
	return l.WaitApplied(ctx, maxOff+1)
}

// Sync writes a NOOP marker and waits until it is applied: after Sync, every
// record written before it by anyone is in the caller's state.
func (l *Log) Sync(ctx context.Context) error {
	return l.Write(ctx, Record{Key: NoopKey()})
}

// CatchUp waits until the records present at the time of the call are
// applied, without writing (for instances that may not write).
func (l *Log) CatchUp(ctx context.Context) error {
	offs, err := l.admin.ListEndOffsets(ctx, l.cfg.Topic)
	if err != nil {
		return err
	}
	o, ok := offs.Lookup(l.cfg.Topic, 0)
	if !ok {
		return fmt.Errorf("no end offset for %s", l.cfg.Topic)
	}
	if o.Err != nil {
		return o.Err
	}
	return l.WaitApplied(ctx, o.Offset)
}

// Client is the producer client, for the leader election to share its
// connections.
func (l *Log) Client() *kgo.Client { return l.producer }

// Close closes the Kafka clients. Run must have returned.
func (l *Log) Close() {
	if l.consumer != nil {
		l.consumer.Close()
	}
	l.producer.Close()
}
