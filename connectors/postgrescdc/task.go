package postgrescdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connect/plugin"
)

// position says which events were handed to Connect: every transaction
// whose commit record precedes commit, and, in transaction xid, every
// change at or before lsn. After a restart or reconnect PostgreSQL resends
// from the slot's confirmed position and these events are skipped.
type position struct {
	commit LSN
	xid    uint32
	lsn    LSN
}

type txnState struct {
	xid      uint32
	final    LSN
	ts       time.Time
	skip     bool
	skipUpTo LSN
}

// task is the single source task. Poll, Commit and Stop run on the
// runtime's one goroutine per task; only the replication reader runs
// beside it, handing over raw messages through a channel.
type task struct {
	c     *config
	meta  *pgconn.PgConn // catalog, snapshot, heartbeat action
	repl  *replConn
	tm    typeMapper
	types map[uint32]*pgType
	rels  map[uint32]*table

	snap      *snapshot // set while snapshotting
	idle      bool      // initial_only after its snapshot
	streaming bool
	failures  int // consecutive reconnect failures

	resume     position
	lastCommit LSN // end of the last transaction fully emitted
	lastXid    uint32
	txn        *txnState
	out, hold  []*plugin.SourceRecord

	received   LSN // highest WAL position seen
	walEnd     LSN // last keepalive position outside a transaction
	durable    LSN // lsn_commit of the newest record Connect committed
	confirmed  LSN // flush position reported to PostgreSQL
	lastStatus time.Time
	lastBeat   time.Time
}

func (t *task) Start(tc plugin.TaskContext, cfg map[string]string) error {
	c, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	t.c = c
	t.rels = map[uint32]*table{}
	t.types = map[uint32]*pgType{}
	t.tm = typeMapper{decimalMode: c.decimalMode, timeMode: c.timeMode, lookup: t.lookupType}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := t.connectMeta(ctx); err != nil {
		return err
	}
	if err := checkServer(ctx, t.meta); err != nil {
		return err
	}
	if err := ensurePublication(ctx, t.meta, c); err != nil {
		return err
	}
	off := tc.Offset(c.partition())
	exists, err := slotExists(ctx, t.meta, c)
	if err != nil {
		return err
	}
	incomplete := off == nil || (off["snapshot"] == true && off["last_snapshot_record"] != true)
	var snap bool
	switch c.snapshotMode {
	case "initial", "initial_only":
		snap = incomplete
	case "always":
		snap = true
	case "when_needed":
		snap = incomplete || !exists
	}
	if c.snapshotMode == "initial_only" && !snap {
		t.idle = true
		return nil
	}
	if t.repl, err = dialRepl(ctx, c); err != nil {
		return fmt.Errorf("replication connection to PostgreSQL at %s:%d as %s: %w", c.host, c.port, c.user, err)
	}
	if _, err := t.repl.identifySystem(ctx); err != nil {
		return err
	}
	if snap {
		// A fresh slot's exported snapshot is exactly the data committed
		// before its consistent point, from which streaming starts: no gap,
		// no overlap. A snapshot that did not finish is redone the same way.
		if exists {
			if err := dropSlot(ctx, t.meta, c.slot); err != nil {
				return err
			}
		}
		lsn, name, err := t.repl.createSlot(ctx, c.slot, true)
		if err != nil {
			return err
		}
		if err := t.beginSnapshot(ctx, lsn, name); err != nil {
			return err
		}
		t.resume = position{commit: lsn}
		t.lastCommit = lsn
		return nil
	}
	if !exists {
		if _, _, err := t.repl.createSlot(ctx, c.slot, false); err != nil {
			return err
		}
	}
	t.resume = offsetPosition(off)
	t.lastCommit = t.resume.commit
	return nil
}

// offsetPosition reads Debezium's offset keys.
func offsetPosition(off map[string]any) position {
	if off == nil {
		return position{}
	}
	p := position{commit: LSN(num(off["lsn_commit"])), xid: uint32(num(off["txId"])), lsn: LSN(num(off["lsn"]))}
	if off["snapshot"] == true { // the end of a snapshot: stream from its point
		p = position{commit: p.lsn}
	}
	return p
}

func num(v any) uint64 {
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case int64:
		return uint64(x)
	case int:
		return uint64(x)
	case json.Number:
		n, _ := strconv.ParseUint(string(x), 10, 64)
		return n
	case string:
		n, _ := strconv.ParseUint(x, 10, 64)
		return n
	}
	return 0
}

func (t *task) connectMeta(ctx context.Context) error {
	cfg, err := t.c.pgConfig(false)
	if err != nil {
		return err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL at %s:%d as %s: %w", t.c.host, t.c.port, t.c.user, err)
	}
	t.meta = conn
	return nil
}

func (t *task) lookupType(oid uint32) *pgType {
	if pt, ok := t.types[oid]; ok {
		return pt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pt, err := lookupType(ctx, t.meta, oid)
	if err != nil {
		return nil // unknown: the text form
	}
	t.types[oid] = pt
	return pt
}

// Poll snapshots, then streams.
func (t *task) Poll(ctx context.Context) ([]*plugin.SourceRecord, error) {
	if t.snap != nil {
		return t.pollSnapshot(ctx)
	}
	if t.idle {
		return nil, sleep(ctx, time.Second)
	}
	if !t.streaming {
		if err := t.startStreaming(ctx); err != nil {
			return nil, t.reconnectLater(ctx, err)
		}
	}
	if err := t.pollStream(ctx); err != nil {
		if errors.Is(err, errStream) {
			return nil, t.reconnectLater(ctx, err)
		}
		return nil, err
	}
	return t.take(), nil
}

var errStream = errors.New("replication stream")

// lingerFor is how long a poll with records waits for more.
const lingerFor = 5 * time.Millisecond

// reconnectLater drops the connections after a failure PostgreSQL may
// recover from (a restart, a network blip, a previous reader still
// holding the slot) and lets the next Poll retry; others fail the task.
func (t *task) reconnectLater(ctx context.Context, err error) error {
	if !transient(err) || t.failures >= 120 {
		return err
	}
	t.failures++
	t.repl.close()
	t.repl = nil
	if t.meta != nil {
		t.meta.Close(ctx)
		t.meta = nil
	}
	t.streaming = false
	// What was decoded but not handed out is decoded again.
	t.out, t.hold, t.txn = nil, nil, nil
	t.rels = map[uint32]*table{}
	t.types = map[uint32]*pgType{}
	t.lastCommit = t.resume.commit
	d := time.Duration(t.failures) * 250 * time.Millisecond
	if d > 5*time.Second {
		d = 5 * time.Second
	}
	return sleep(ctx, d)
}

func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "55006"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return !strings.Contains(err.Error(), "password") && !strings.Contains(err.Error(), "SQLSTATE 28")
	}
	return true // network errors, EOF
}

func (t *task) startStreaming(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if t.meta == nil || t.meta.IsClosed() {
		if err := t.connectMeta(sctx); err != nil {
			return err
		}
	}
	if t.repl == nil {
		r, err := dialRepl(sctx, t.c)
		if err != nil {
			return err
		}
		t.repl = r
	}
	if err := t.repl.start(sctx, t.c.slot, t.c.publication, 0, t.c.maxQueue); err != nil {
		return err
	}
	t.streaming = true
	t.failures = 0
	t.lastStatus = time.Now()
	t.lastBeat = time.Now()
	return nil
}

// pollStream decodes replication messages until a batch is ready, or for
// up to half a second when nothing comes.
func (t *task) pollStream(ctx context.Context) error {
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	var linger *time.Timer
	for len(t.out) < t.c.maxBatch {
		var data []byte
		if len(t.out) > 0 {
			select {
			case data = <-t.repl.msgs:
			case err := <-t.repl.errc:
				return fmt.Errorf("%w: %v", errStream, err)
			default:
				// Linger briefly for a fuller batch: each batch costs
				// two round trips to Kafka.
				if linger == nil {
					linger = time.NewTimer(lingerFor)
					defer linger.Stop()
				}
				select {
				case data = <-t.repl.msgs:
				case err := <-t.repl.errc:
					return fmt.Errorf("%w: %v", errStream, err)
				case <-linger.C:
				case <-ctx.Done():
				}
			}
			if data == nil {
				break
			}
		} else {
			select {
			case data = <-t.repl.msgs:
			case err := <-t.repl.errc:
				return fmt.Errorf("%w: %v", errStream, err)
			case <-timer.C:
			case <-ctx.Done():
			}
			if data == nil {
				break
			}
		}
		if err := t.handle(data); err != nil {
			return err
		}
	}
	now := time.Now()
	if t.c.heartbeatMS > 0 && now.Sub(t.lastBeat) >= time.Duration(t.c.heartbeatMS)*time.Millisecond {
		t.lastBeat = now
		if err := t.beat(ctx); err != nil {
			return err
		}
	}
	if now.Sub(t.lastStatus) >= time.Duration(t.c.statusMS)*time.Millisecond {
		if err := t.status(false); err != nil {
			return fmt.Errorf("%w: %v", errStream, err)
		}
	}
	return nil
}

// beat runs the heartbeat action and, when nothing is pending, emits a
// heartbeat whose offset lets the slot advance past WAL of other tables.
func (t *task) beat(ctx context.Context) error {
	if t.c.heartbeatQuery != "" {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := simple(qctx, t.meta, t.c.heartbeatQuery)
		cancel()
		if err != nil && ctx.Err() == nil {
			if transient(err) {
				return fmt.Errorf("%w: heartbeat.action.query: %v", errStream, err)
			}
			return fmt.Errorf("heartbeat.action.query failed: %w", err)
		}
	}
	// Everything before the last keepalive outside a transaction, and every
	// transaction already decoded, has been handed out: safe to confirm.
	pos := max(t.walEnd, t.lastCommit)
	if t.txn == nil && len(t.hold) == 0 && len(t.out) == 0 && pos > t.resume.commit {
		t.lastCommit = pos
		t.out = append(t.out, t.c.heartbeat(map[string]any{
			"lsn_proc": int64(pos), "lsn_commit": int64(pos), "lsn": int64(pos),
			"txId": int64(t.lastXid), "ts_usec": time.Now().UnixMicro(),
		}))
	}
	return nil
}

// take hands the ready records to Connect and remembers how far they go.
func (t *task) take() []*plugin.SourceRecord {
	if len(t.out) == 0 {
		return nil
	}
	out := t.out
	t.out = nil
	if p, ok := streamPosition(out[len(out)-1]); ok {
		t.resume = p
	}
	return out
}

// streamPosition is where streaming resumes after r: the position its
// offset records; ok is false for snapshot records.
func streamPosition(r *plugin.SourceRecord) (p position, ok bool) {
	off := r.SourceOffset
	if off == nil || off["snapshot"] != nil {
		return position{}, false
	}
	p = position{commit: LSN(num(off["lsn_commit"])), xid: uint32(num(off["txId"])), lsn: LSN(num(off["lsn"]))}
	if p.commit == LSN(num(off["lsn"])) { // a heartbeat
		p.xid, p.lsn = 0, 0
	}
	return p, true
}

// CommitRecord hears from Connect that r, and everything handed out
// before it, is in Kafka with its offset committed.
func (t *task) CommitRecord(r *plugin.SourceRecord) error {
	if p, ok := streamPosition(r); ok && p.commit > t.durable {
		t.durable = p.commit
	}
	return nil
}

// Commit runs once Connect has written offsets: only WAL behind the
// records it reported durable (CommitRecord) may PostgreSQL discard.
func (t *task) Commit() error {
	if t.durable > t.confirmed {
		t.confirmed = t.durable
		if t.streaming {
			if err := t.status(false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *task) status(reply bool) error {
	t.lastStatus = time.Now()
	write := t.received
	if write < t.confirmed {
		write = t.confirmed
	}
	return t.repl.sendStatus(write, t.confirmed, reply)
}

func (t *task) Stop() error {
	if t.snap != nil && t.snap.mrr != nil {
		t.snap.mrr.Close()
	}
	t.repl.close()
	t.repl = nil
	var err error
	if t.c != nil && t.c.dropSlot {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if t.meta == nil || t.meta.IsClosed() {
			err = t.connectMeta(ctx)
		}
		if err == nil {
			err = dropSlot(ctx, t.meta, t.c.slot)
		}
	}
	if t.meta != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t.meta.Close(ctx)
		cancel()
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
	return nil
}
