package postgrescdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LSN is a PostgreSQL write-ahead log position.
type LSN uint64

// String formats an LSN as PostgreSQL does ("16/B374D848").
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// ParseLSN reads PostgreSQL's "X/Y" form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

// pgEpoch is where PostgreSQL's timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func pgTime(micros int64) time.Time { return pgEpoch.Add(time.Duration(micros) * time.Microsecond) }

// The pgoutput (protocol version 1) logical replication messages we decode.
// See PostgreSQL's "Logical Replication Message Formats".

// BeginMsg starts a transaction; FinalLSN is its commit record's LSN.
type BeginMsg struct {
	FinalLSN   LSN
	CommitTime time.Time
	Xid        uint32
}

// CommitMsg ends a transaction; EndLSN is the end of its commit record,
// the position to confirm once the transaction is durable downstream.
type CommitMsg struct {
	Flags      uint8
	CommitLSN  LSN
	EndLSN     LSN
	CommitTime time.Time
}

// OriginMsg names the replication origin of the transaction.
type OriginMsg struct {
	CommitLSN LSN
	Name      string
}

// Column is one column of a RelationMsg.
type Column struct {
	Key     bool // part of the replica identity
	Name    string
	TypeOID uint32
	TypMod  int32
}

// RelationMsg describes a table before the first change to it (and after
// every change of its definition).
type RelationMsg struct {
	ID              uint32
	Namespace       string
	Name            string
	ReplicaIdentity byte // 'd' default, 'n' nothing, 'f' full, 'i' index
	Columns         []Column
}

// TypeMsg describes a non-builtin type a relation uses.
type TypeMsg struct {
	OID       uint32
	Namespace string
	Name      string
}

// Tuple column kinds.
const (
	tupleNull      = 'n'
	tupleUnchanged = 'u' // an unchanged TOASTed value, not sent
	tupleText      = 't'
	tupleBinary    = 'b'
)

// TupleCol is one column value: Kind is 'n', 'u', 't' or 'b'. Data aliases
// the message buffer.
type TupleCol struct {
	Kind byte
	Data []byte
}

// InsertMsg is a new row.
type InsertMsg struct {
	RelID uint32
	New   []TupleCol
}

// UpdateMsg is a changed row. Old is the replica identity ('K') or the whole
// old row ('O', REPLICA IDENTITY FULL), or nil when the key did not change.
type UpdateMsg struct {
	RelID   uint32
	OldKind byte // 0, 'K' or 'O'
	Old     []TupleCol
	New     []TupleCol
}

// DeleteMsg is a removed row: its key ('K') or whole old row ('O').
type DeleteMsg struct {
	RelID   uint32
	OldKind byte
	Old     []TupleCol
}

// TruncateMsg truncates one or more tables.
type TruncateMsg struct {
	Options uint8 // 1 cascade, 2 restart identity
	RelIDs  []uint32
}

// LogicalMsg is pg_logical_emit_message's output.
type LogicalMsg struct {
	Transactional bool
	LSN           LSN
	Prefix        string
	Content       []byte
}

var errShort = errors.New("pgoutput: message too short")

type reader struct {
	b   []byte
	err error
}

func (r *reader) u8() uint8 {
	if r.err != nil || len(r.b) < 1 {
		r.err = errShort
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
	}
	r.err = errors.New("pgoutput: unterminated string")
	return ""
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) tuple() []TupleCol {
	n := int(r.u16())
	if r.err != nil {
		return nil
	}
	if n > len(r.b) { // each column takes at least one byte
		r.err = errShort
		return nil
	}
	cols := make([]TupleCol, n)
	for i := range cols {
		k := r.u8()
		cols[i].Kind = k
		switch k {
		case tupleNull, tupleUnchanged:
		case tupleText, tupleBinary:
			cols[i].Data = r.bytes(int(int32(r.u32())))
		default:
			if r.err == nil {
				r.err = fmt.Errorf("pgoutput: unknown tuple column kind %q", k)
			}
		}
	}
	return cols
}

// Decode parses one pgoutput message. It returns one of the *Msg types
// above, or an error for a malformed or unknown message; it never panics.
// Tuple data and message content alias b.
func Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errShort
	}
	r := &reader{b: b[1:]}
	var m any
	switch b[0] {
	case 'B':
		m = &BeginMsg{FinalLSN: LSN(r.u64()), CommitTime: pgTime(int64(r.u64())), Xid: r.u32()}
	case 'C':
		m = &CommitMsg{Flags: r.u8(), CommitLSN: LSN(r.u64()), EndLSN: LSN(r.u64()), CommitTime: pgTime(int64(r.u64()))}
	case 'O':
		m = &OriginMsg{CommitLSN: LSN(r.u64()), Name: r.str()}
	case 'R':
		rel := &RelationMsg{ID: r.u32(), Namespace: r.str(), Name: r.str(), ReplicaIdentity: r.u8()}
		n := int(r.u16())
		if r.err == nil && n > len(r.b) {
			r.err = errShort
		}
		if r.err == nil {
			rel.Columns = make([]Column, n)
			for i := range rel.Columns {
				rel.Columns[i] = Column{Key: r.u8()&1 == 1, Name: r.str(), TypeOID: r.u32(), TypMod: int32(r.u32())}
			}
		}
		m = rel
	case 'Y':
		m = &TypeMsg{OID: r.u32(), Namespace: r.str(), Name: r.str()}
	case 'I':
		ins := &InsertMsg{RelID: r.u32()}
		if k := r.u8(); r.err == nil && k != 'N' {
			return nil, fmt.Errorf("pgoutput: insert: expected 'N', got %q", k)
		}
		ins.New = r.tuple()
		m = ins
	case 'U':
		up := &UpdateMsg{RelID: r.u32()}
		k := r.u8()
		if k == 'K' || k == 'O' {
			up.OldKind, up.Old = k, r.tuple()
			k = r.u8()
		}
		if r.err == nil && k != 'N' {
			return nil, fmt.Errorf("pgoutput: update: expected 'N', got %q", k)
		}
		up.New = r.tuple()
		m = up
	case 'D':
		del := &DeleteMsg{RelID: r.u32(), OldKind: r.u8()}
		if r.err == nil && del.OldKind != 'K' && del.OldKind != 'O' {
			return nil, fmt.Errorf("pgoutput: delete: expected 'K' or 'O', got %q", del.OldKind)
		}
		del.Old = r.tuple()
		m = del
	case 'T':
		n := int(r.u32())
		tr := &TruncateMsg{Options: r.u8()}
		if r.err == nil && n*4 > len(r.b) {
			r.err = errShort
		}
		for i := 0; i < n && r.err == nil; i++ {
			tr.RelIDs = append(tr.RelIDs, r.u32())
		}
		m = tr
	case 'M':
		lm := &LogicalMsg{Transactional: r.u8()&1 == 1, LSN: LSN(r.u64()), Prefix: r.str()}
		lm.Content = r.bytes(int(int32(r.u32())))
		m = lm
	default:
		return nil, fmt.Errorf("pgoutput: unknown message type %q", b[0])
	}
	if r.err != nil {
		return nil, fmt.Errorf("pgoutput: decoding %q message: %w", b[0], r.err)
	}
	return m, nil
}
