package postgrescdc

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// handle decodes one replication message into records.
//
// Records of the latest change of an open transaction are held back until
// the next message shows whether the transaction ends there: the last
// record of a transaction carries the transaction's end as lsn_commit, so
// committing it lets the slot advance past the whole transaction.
func (t *task) handle(data []byte) error {
	w, kend, reply, err := parseCopyData(data)
	if err != nil {
		return err
	}
	if w == nil {
		if kend > t.received {
			t.received = kend
		}
		if t.txn == nil && kend > t.walEnd {
			t.walEnd = kend
		}
		if reply {
			if err := t.status(false); err != nil {
				return fmt.Errorf("%w: %v", errStream, err)
			}
		}
		return nil
	}
	if w.end > t.received {
		t.received = w.end
	}
	msg, err := Decode(w.data)
	if err != nil {
		return err
	}
	switch m := msg.(type) {
	case *BeginMsg:
		t.txn = &txnState{xid: m.Xid, final: m.FinalLSN, ts: m.CommitTime}
		if m.FinalLSN < t.resume.commit {
			t.txn.skip = true // handed out before a restart
		} else if m.Xid == t.resume.xid && t.resume.lsn > 0 {
			t.txn.skipUpTo = t.resume.lsn
		}
	case *CommitMsg:
		if len(t.hold) > 0 {
			for _, r := range t.hold {
				r.SourceOffset["lsn_commit"] = int64(m.EndLSN)
			}
			t.out = append(t.out, t.hold...)
			t.hold = nil
		}
		if t.txn != nil {
			t.lastXid = t.txn.xid
		}
		if m.EndLSN > t.lastCommit {
			t.lastCommit = m.EndLSN
		}
		t.txn = nil
	case *RelationMsg:
		tb, err := t.relation(m)
		if err != nil {
			return err
		}
		t.rels[m.ID] = tb
	case *TypeMsg, *OriginMsg:
		// Types are resolved through the catalog; origins are not filtered.
	case *LogicalMsg:
		off := t.offset(w.start)
		s := srcInfo{tsMS: time.Now().UnixMilli(), snapshot: "false", lsn: w.start, lastCmt: t.lastCommit}
		if !m.Transactional {
			if w.start >= t.resume.commit {
				t.out = append(t.out, t.c.message(m, s, off))
			}
			return nil
		}
		if t.txn == nil || t.txn.skip || w.start <= t.txn.skipUpTo {
			return nil
		}
		s.tsMS, s.txID = t.txn.ts.UnixMilli(), int64(t.txn.xid)
		t.emit([]*plugin.SourceRecord{t.c.message(m, s, off)})
	default:
		if t.txn == nil || t.txn.skip || w.start <= t.txn.skipUpTo {
			return nil
		}
		recs, err := t.change(msg, w.start)
		if err != nil {
			return err
		}
		t.emit(recs)
	}
	return nil
}

func (t *task) emit(recs []*plugin.SourceRecord) {
	if len(recs) == 0 {
		return
	}
	t.out = append(t.out, t.hold...)
	t.hold = recs
}

func (t *task) offset(lsn LSN) map[string]any {
	off := map[string]any{"lsn_proc": int64(lsn), "lsn_commit": int64(t.lastCommit), "lsn": int64(lsn)}
	if t.txn != nil {
		off["txId"] = int64(t.txn.xid)
		off["ts_usec"] = t.txn.ts.UnixMicro()
	} else {
		off["ts_usec"] = time.Now().UnixMicro()
	}
	return off
}

// relation builds a table from a Relation message and the catalog.
func (t *task) relation(m *RelationMsg) (*table, error) {
	tb := &table{id: m.ID, schemaName: m.Namespace, name: m.Name, captured: t.c.captured(m.Namespace, m.Name)}
	if !tb.captured {
		return tb, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	as, err := attrs(ctx, t.meta, m.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStream, err)
	}
	byName := make(map[string]attr, len(as))
	for _, a := range as {
		byName[a.name] = a
	}
	for i, col := range m.Columns {
		if !t.c.columnCaptured(m.Namespace, m.Name, col.Name) {
			continue
		}
		a := byName[col.Name]
		s, fn := t.tm.column(col.TypeOID, col.TypMod, !a.notNull)
		tb.cols = append(tb.cols, colDef{name: col.Name, pos: i, schema: s, decode: fn, notNull: a.notNull, pk: a.pk})
	}
	tb.buildSchemas(t.c.prefix)
	return tb, nil
}

// change turns Insert, Update, Delete and Truncate into Debezium events.
func (t *task) change(msg any, lsn LSN) ([]*plugin.SourceRecord, error) {
	s := srcInfo{tsMS: t.txn.ts.UnixMilli(), snapshot: "false", txID: int64(t.txn.xid), lsn: lsn, lastCmt: t.lastCommit}
	off := t.offset(lsn)
	c := t.c
	rel := func(id uint32) (*table, error) {
		tb := t.rels[id]
		if tb == nil {
			return nil, fmt.Errorf("pgoutput: change for relation %d before its Relation message", id)
		}
		return tb, nil
	}
	switch m := msg.(type) {
	case *InsertMsg:
		tb, err := rel(m.RelID)
		if err != nil || !tb.captured || c.skip["c"] {
			return nil, err
		}
		after, err := tb.row(m.New, nil, c.placeholder)
		if err != nil {
			return nil, err
		}
		return []*plugin.SourceRecord{c.event(tb, "c", tb.key(after), nil, after, s, off)}, nil
	case *UpdateMsg:
		tb, err := rel(m.RelID)
		if err != nil || !tb.captured {
			return nil, err
		}
		var old []TupleCol
		if m.OldKind == 'O' {
			old = m.Old
		}
		after, err := tb.row(m.New, old, c.placeholder)
		if err != nil {
			return nil, err
		}
		var before *plugin.Struct
		if m.OldKind != 0 {
			if before, err = tb.row(m.Old, nil, c.placeholder); err != nil {
				return nil, err
			}
		}
		if m.OldKind != 0 && tb.keySchema != nil && tb.keyChanged(m.Old, m.New) {
			// A primary key change: delete (and tombstone) the old key,
			// create the new one, as Debezium does.
			oldKey, newKey := tb.key(before), tb.key(after)
			var out []*plugin.SourceRecord
			if !c.skip["d"] {
				del := c.event(tb, "d", oldKey, before, nil, s, off)
				del.Headers = []plugin.Header{{Key: "__debezium.newkey", Value: keyHeader(newKey)}}
				out = append(out, del)
				if c.tombstones {
					out = append(out, tombstone(del))
				}
			}
			if !c.skip["c"] {
				cr := c.event(tb, "c", newKey, nil, after, s, off)
				cr.Headers = []plugin.Header{{Key: "__debezium.oldkey", Value: keyHeader(oldKey)}}
				out = append(out, cr)
			}
			return out, nil
		}
		if c.skip["u"] {
			return nil, nil
		}
		return []*plugin.SourceRecord{c.event(tb, "u", tb.key(after), before, after, s, off)}, nil
	case *DeleteMsg:
		tb, err := rel(m.RelID)
		if err != nil || !tb.captured || c.skip["d"] {
			return nil, err
		}
		before, err := tb.row(m.Old, nil, c.placeholder)
		if err != nil {
			return nil, err
		}
		del := c.event(tb, "d", tb.key(before), before, nil, s, off)
		out := []*plugin.SourceRecord{del}
		if c.tombstones {
			out = append(out, tombstone(del))
		}
		return out, nil
	case *TruncateMsg:
		if c.skip["t"] {
			return nil, nil
		}
		var out []*plugin.SourceRecord
		for _, id := range m.RelIDs {
			tb, err := rel(id)
			if err != nil {
				return nil, err
			}
			if tb.captured {
				out = append(out, c.event(tb, "t", nil, nil, nil, s, off))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("pgoutput: unexpected message %T", msg)
}
