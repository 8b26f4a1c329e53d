package postgrescdc

import (
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/sluicehq/sluice/connect/plugin"
)

type enc []byte

func (e enc) u8(v byte) enc    { return append(e, v) }
func (e enc) u16(v uint16) enc { return binary.BigEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc { return binary.BigEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.BigEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc { return append(append(e, s...), 0) }
func (e enc) text(s string) enc {
	return append(e.u8('t').u32(uint32(len(s))), s...)
}

func TestDecodeMessages(t *testing.T) {
	rel := enc{'R'}.u32(16384).str("public").str("t").u8('d').u16(2).
		u8(1).str("id").u32(oidInt4).u32(0xffffffff).
		u8(0).str("body").u32(oidText).u32(0xffffffff)
	m, err := Decode(rel)
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*RelationMsg)
	if r.Name != "t" || len(r.Columns) != 2 || !r.Columns[0].Key || r.Columns[1].TypMod != -1 {
		t.Fatalf("relation %+v", r)
	}
	up := enc{'U'}.u32(16384).u8('K').u16(2).text("1").u8('n').u8('N').u16(2).text("2").u8('u')
	m, err = Decode(up)
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*UpdateMsg)
	if u.OldKind != 'K' || string(u.Old[0].Data) != "1" || u.New[1].Kind != tupleUnchanged {
		t.Fatalf("update %+v", u)
	}
	b, err := Decode(enc{'B'}.u64(0x1_0000_0010).u64(0).u32(77))
	if err != nil || b.(*BeginMsg).Xid != 77 || b.(*BeginMsg).FinalLSN.String() != "1/10" {
		t.Fatalf("begin %+v %v", b, err)
	}
	tr, err := Decode(enc{'T'}.u32(2).u8(0).u32(1).u32(2))
	if err != nil || len(tr.(*TruncateMsg).RelIDs) != 2 {
		t.Fatalf("truncate %+v %v", tr, err)
	}
	msg, err := Decode(enc{'M'}.u8(1).u64(5).str("p").u32(3).str("ab")[:0:0])
	_ = msg
	lm, err := Decode(append(enc{'M'}.u8(1).u64(5).str("p").u32(2), "ab"...))
	if err != nil || lm.(*LogicalMsg).Prefix != "p" || string(lm.(*LogicalMsg).Content) != "ab" {
		t.Fatalf("message %+v %v", lm, err)
	}
	// Truncated input is an error, never a panic.
	for i := range up {
		if _, err := Decode(up[:i]); err == nil && i > 0 {
			t.Fatalf("decoding %d of %d bytes succeeded", i, len(up))
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(enc{'U'}.u32(1).u8('O').u16(1).text("x").u8('N').u16(1).u8('n')))
	f.Add([]byte(enc{'R'}.u32(1).str("s").str("t").u8('f').u16(1).u8(0).str("c").u32(25).u32(0)))
	f.Add([]byte(enc{'C'}.u8(0).u64(1).u64(2).u64(3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(b) // must not panic
		parseCopyData(b)
	})
}

func TestValueDecoding(t *testing.T) {
	m := &typeMapper{decimalMode: "precise", timeMode: "adaptive"}
	s, fn := m.column(oidNumeric, (10<<16|2)+4, true)
	v, err := fn("-1.50")
	if err != nil || s.Name != connectDecimal || s.Parameters["scale"] != "2" {
		t.Fatalf("numeric: %v %v %+v", v, err, s)
	}
	if n := new(big.Int).SetBytes(v.([]byte)); v.([]byte)[0]&0x80 == 0 || n.Sign() == 0 {
		t.Fatalf("-150 encoded as %x", v)
	}
	if b := twosComplement(big.NewInt(-150)); len(b) != 2 || b[0] != 0xff || b[1] != 0x6a {
		t.Fatalf("-150 = %x", b)
	}
	if _, err := fn("NaN"); err == nil {
		t.Fatal("NaN accepted in precise mode")
	}
	_, fn = m.column(oidInterval, -1, true)
	if v, _ := fn("1 day 01:00:00"); v != int64(25*3600*1e6) {
		t.Fatalf("interval = %v", v)
	}
	_, fn = m.column(oidTime, -1, true)
	if v, _ := fn("01:02:03.5"); v != int64(3723500000) {
		t.Fatalf("time = %v", v)
	}
	_, fn = m.column(oidDate, -1, true)
	if v, _ := fn("1970-01-10"); v != int64(9) {
		t.Fatalf("date = %v", v)
	}
	s, fn = m.column(99999, -1, true) // unknown: text
	if v, _ := fn("(1,2)"); s.Type != plugin.String || v != "(1,2)" {
		t.Fatalf("unknown type: %v %+v", v, s)
	}
	_, fn = m.column(1007, -1, true)
	if _, err := fn("{{1,2},{3,4}}"); err == nil {
		t.Fatal("multi-dimensional array accepted")
	}
	_, fn = m.column(oidBytea, -1, true)
	if v, _ := fn(`\x0aff`); string(v.([]byte)) != "\x0a\xff" {
		t.Fatalf("bytea = %v", v)
	}
}
