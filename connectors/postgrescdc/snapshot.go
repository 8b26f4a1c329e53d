package postgrescdc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connect/plugin"
)

// snapshot reads every captured table inside one repeatable-read
// transaction that imported the slot's exported snapshot.
type snapshot struct {
	lsn    LSN
	txid   int64
	tables []*table
	idx    int
	mrr    *pgconn.MultiResultReader
	rr     *pgconn.ResultReader
	held   *plugin.SourceRecord // the latest row: the last one is marked "last"
}

func (t *task) beginSnapshot(ctx context.Context, lsn LSN, name string) error {
	if _, err := simple(ctx, t.meta, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := simple(ctx, t.meta, "SET TRANSACTION SNAPSHOT "+quoteLiteral(name)); err != nil {
		return fmt.Errorf("snapshot: importing %s: %w", name, err)
	}
	res, err := simple(ctx, t.meta, "SELECT pg_snapshot_xmin(pg_current_snapshot())")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	s := &snapshot{lsn: lsn}
	s.txid, _ = strconv.ParseInt(string(res[0].Rows[0][0]), 10, 64)
	rels, err := listTables(ctx, t.meta, t.c)
	if err != nil {
		return err
	}
	for _, r := range rels {
		as, err := attrs(ctx, t.meta, r.id)
		if err != nil {
			return err
		}
		tb := &table{id: r.id, schemaName: r.schema, name: r.name, captured: true}
		for _, a := range as {
			if !t.c.columnCaptured(r.schema, r.name, a.name) {
				continue
			}
			sch, fn := t.tm.column(a.typ, a.typmod, !a.notNull)
			tb.cols = append(tb.cols, colDef{name: a.name, pos: len(tb.cols), schema: sch, decode: fn, notNull: a.notNull, pk: a.pk})
		}
		tb.buildSchemas(t.c.prefix)
		s.tables = append(s.tables, tb)
	}
	t.snap = s
	return nil
}

// pollSnapshot returns the next rows as read ("r") events.
func (t *task) pollSnapshot(ctx context.Context) ([]*plugin.SourceRecord, error) {
	s := t.snap
	now := time.Now()
	for len(t.out) < t.c.maxBatch {
		if s.rr == nil {
			if s.idx >= len(s.tables) {
				return t.finishSnapshot(ctx)
			}
			tb := s.tables[s.idx]
			if len(tb.cols) == 0 {
				s.idx++
				continue
			}
			names := make([]string, len(tb.cols))
			for i, c := range tb.cols {
				names[i] = quoteIdent(c.name)
			}
			s.mrr = t.meta.Exec(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+quoteIdent(tb.schemaName)+"."+quoteIdent(tb.name))
			if !s.mrr.NextResult() {
				err := s.mrr.Close()
				s.mrr = nil
				return nil, fmt.Errorf("snapshot of %s.%s: %v", tb.schemaName, tb.name, err)
			}
			s.rr = s.mrr.ResultReader()
		}
		tb := s.tables[s.idx]
		if !s.rr.NextRow() {
			_, err := s.rr.Close()
			if err == nil {
				err = s.mrr.Close()
			}
			s.rr, s.mrr = nil, nil
			if err != nil {
				return nil, fmt.Errorf("snapshot of %s.%s: %w", tb.schemaName, tb.name, err)
			}
			s.idx++
			continue
		}
		vals := s.rr.Values()
		cols := make([]TupleCol, len(vals))
		for i, v := range vals {
			if v == nil {
				cols[i].Kind = tupleNull
			} else {
				cols[i] = TupleCol{Kind: tupleText, Data: v}
			}
		}
		after, err := tb.row(cols, nil, t.c.placeholder)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		off := map[string]any{"lsn": int64(s.lsn), "txId": s.txid, "ts_usec": now.UnixMicro(), "snapshot": true, "last_snapshot_record": false}
		rec := t.c.event(tb, "r", tb.key(after), nil, after, srcInfo{tsMS: now.UnixMilli(), snapshot: "true", txID: s.txid, lsn: s.lsn}, off)
		if s.held != nil {
			t.out = append(t.out, s.held)
		}
		s.held = rec
	}
	return t.take(), nil
}

func (t *task) finishSnapshot(ctx context.Context) ([]*plugin.SourceRecord, error) {
	s := t.snap
	if s.held != nil {
		s.held.SourceOffset["last_snapshot_record"] = true
		s.held.Value.(*plugin.Struct).Get("source").(*plugin.Struct).Put("snapshot", "last")
		t.out = append(t.out, s.held)
		s.held = nil
	}
	if _, err := simple(ctx, t.meta, "COMMIT"); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	t.snap = nil
	if t.c.snapshotMode == "initial_only" {
		t.idle = true
	}
	return t.take(), nil
}
