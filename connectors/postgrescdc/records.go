package postgrescdc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Version is the Debezium release whose event shape we emit.
const Version = "2.5.4.Final"

// colDef is one captured column of a table.
type colDef struct {
	name    string
	pos     int // index in the relation's column list / tuple
	schema  *plugin.Schema
	decode  decodeFn
	notNull bool
	pk      bool
}

// table is what we know of a captured table: its columns and the Connect
// schemas of its events, built once per relation definition.
type table struct {
	id             uint32
	schemaName     string
	name           string
	captured       bool
	cols           []colDef // captured columns in table order
	pkPos          []int    // tuple positions of the primary key
	topic          string
	keySchema      *plugin.Schema // nil without a primary key
	valueSchema    *plugin.Schema
	envelopeSchema *plugin.Schema
}

// sourceSchema is io.debezium.connector.postgresql.Source (Debezium 2.5).
var sourceSchema = &plugin.Schema{Type: plugin.StructT, Name: "io.debezium.connector.postgresql.Source", Fields: []plugin.Field{
	{Name: "version", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "connector", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "name", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "ts_ms", Schema: &plugin.Schema{Type: plugin.Int64}},
	{Name: "snapshot", Schema: &plugin.Schema{Type: plugin.String, Optional: true, Name: dbzEnum, Version: 1,
		Parameters: map[string]string{"allowed": "true,last,false,incremental"}, Default: "false"}},
	{Name: "db", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "sequence", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
	{Name: "schema", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "table", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "txId", Schema: &plugin.Schema{Type: plugin.Int64, Optional: true}},
	{Name: "lsn", Schema: &plugin.Schema{Type: plugin.Int64, Optional: true}},
	{Name: "xmin", Schema: &plugin.Schema{Type: plugin.Int64, Optional: true}},
}}

// transactionSchema is Debezium's event.block (null unless transaction
// metadata is on, which we do not implement).
var transactionSchema = &plugin.Schema{Type: plugin.StructT, Optional: true, Name: "event.block", Version: 1, Fields: []plugin.Field{
	{Name: "id", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "total_order", Schema: &plugin.Schema{Type: plugin.Int64}},
	{Name: "data_collection_order", Schema: &plugin.Schema{Type: plugin.Int64}},
}}

// buildSchemas derives the Key, Value and Envelope schemas.
func (t *table) buildSchemas(prefix string) {
	base := prefix + "." + t.schemaName + "." + t.name
	t.topic = base
	val := &plugin.Schema{Type: plugin.StructT, Optional: true, Name: base + ".Value"}
	var key *plugin.Schema
	t.pkPos = nil
	for _, c := range t.cols {
		val.Fields = append(val.Fields, plugin.Field{Name: c.name, Schema: c.schema})
		if c.pk {
			if key == nil {
				key = &plugin.Schema{Type: plugin.StructT, Name: base + ".Key"}
			}
			ks := *c.schema
			ks.Optional = false
			key.Fields = append(key.Fields, plugin.Field{Name: c.name, Schema: &ks})
			t.pkPos = append(t.pkPos, c.pos)
		}
	}
	t.keySchema, t.valueSchema = key, val
	t.envelopeSchema = &plugin.Schema{Type: plugin.StructT, Name: base + ".Envelope", Version: 1, Fields: []plugin.Field{
		{Name: "before", Schema: val},
		{Name: "after", Schema: val},
		{Name: "source", Schema: sourceSchema},
		{Name: "op", Schema: &plugin.Schema{Type: plugin.String}},
		{Name: "ts_ms", Schema: &plugin.Schema{Type: plugin.Int64, Optional: true}},
		{Name: "transaction", Schema: transactionSchema},
	}}
}

// rowValues turns tuple columns into a Value struct. old supplies values
// for unchanged TOAST columns when the whole old row is known.
func (t *table) row(cols []TupleCol, old []TupleCol, placeholder string) (*plugin.Struct, error) {
	st := plugin.NewStruct(t.valueSchema)
	for _, c := range t.cols {
		var tc TupleCol
		if c.pos < len(cols) {
			tc = cols[c.pos]
		} else {
			tc.Kind = tupleNull
		}
		if tc.Kind == tupleUnchanged && old != nil && c.pos < len(old) && old[c.pos].Kind == tupleText {
			tc = old[c.pos]
		}
		switch tc.Kind {
		case tupleText:
			v, err := c.decode(string(tc.Data))
			if err != nil {
				return nil, fmt.Errorf("%s.%s column %s: %w", t.schemaName, t.name, c.name, err)
			}
			st.Put(c.name, v)
		case tupleUnchanged:
			st.Put(c.name, unavailable(c.schema, placeholder))
		case tupleBinary:
			return nil, fmt.Errorf("%s.%s column %s: binary tuple data is not supported", t.schemaName, t.name, c.name)
		default:
			if c.notNull {
				st.Put(c.name, zeroValue(c.schema))
			} else {
				st.Put(c.name, nil)
			}
		}
	}
	return st, nil
}

// unavailable is Debezium's stand-in for a TOAST value PostgreSQL did not
// send.
func unavailable(s *plugin.Schema, placeholder string) any {
	switch s.Type {
	case plugin.String:
		return placeholder
	case plugin.Bytes:
		return []byte(placeholder)
	case plugin.Array:
		if s.Items.Type == plugin.String {
			return []any{placeholder}
		}
		if s.Items.Type == plugin.Bytes {
			return []any{[]byte(placeholder)}
		}
	}
	if s.Optional {
		return nil
	}
	return zeroValue(s)
}

// key extracts the primary key struct from a row struct, or nil.
func (t *table) key(row *plugin.Struct) *plugin.Struct {
	if t.keySchema == nil || row == nil {
		return nil
	}
	k := plugin.NewStruct(t.keySchema)
	for _, f := range t.keySchema.Fields {
		k.Put(f.Name, row.Get(f.Name))
	}
	return k
}

// keyChanged compares the key columns of two tuples by their text.
func (t *table) keyChanged(old, new []TupleCol) bool {
	for _, p := range t.pkPos {
		if p >= len(old) || p >= len(new) {
			return false
		}
		if old[p].Kind != tupleText || new[p].Kind != tupleText {
			continue
		}
		if string(old[p].Data) != string(new[p].Data) {
			return true
		}
	}
	return false
}

// srcInfo is the source block of one event.
type srcInfo struct {
	tsMS     int64
	snapshot string // "true", "last", "false"
	txID     int64
	lsn      LSN
	lastCmt  LSN // last committed LSN before this event (0: null)
}

func (c *config) source(t *table, s srcInfo) *plugin.Struct {
	st := plugin.NewStruct(sourceSchema)
	st.Put("version", Version).Put("connector", "postgresql").Put("name", c.prefix).Put("ts_ms", s.tsMS).
		Put("snapshot", s.snapshot).Put("db", c.dbname).Put("schema", t.schemaName).Put("table", t.name).
		Put("xmin", nil)
	// sequence is ["<last commit LSN>","<LSN>"] with nulls, as a string.
	seq := make([]byte, 0, 48)
	seq = append(seq, '[')
	seq = appendLSN(seq, s.lastCmt)
	seq = append(seq, ',')
	seq = appendLSN(seq, s.lsn)
	seq = append(seq, ']')
	st.Put("sequence", string(seq))
	if s.lsn != 0 {
		st.Put("lsn", int64(s.lsn))
	} else {
		st.Put("lsn", nil)
	}
	if s.txID != 0 {
		st.Put("txId", s.txID)
	} else {
		st.Put("txId", nil)
	}
	return st
}

func appendLSN(b []byte, l LSN) []byte {
	if l == 0 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(l), 10)
	return append(b, '"')
}

// event builds one change record.
func (c *config) event(t *table, op string, key, before, after *plugin.Struct, s srcInfo, off map[string]any) *plugin.SourceRecord {
	v := plugin.NewStruct(t.envelopeSchema)
	v.Put("before", orNil(before)).Put("after", orNil(after)).Put("source", c.source(t, s)).Put("op", op).
		Put("ts_ms", time.Now().UnixMilli()).Put("transaction", nil)
	r := &plugin.SourceRecord{
		SourcePartition: c.partition(),
		SourceOffset:    off,
		Topic:           t.topic,
		ValueSchema:     t.envelopeSchema,
		Value:           v,
		Timestamp:       time.Now(),
	}
	if key != nil {
		r.KeySchema, r.Key = t.keySchema, key
	}
	return r
}

// orNil keeps a nil struct an untyped nil, as converters expect.
func orNil(s *plugin.Struct) any {
	if s == nil {
		return nil
	}
	return s
}

// tombstone follows a delete so compaction can drop the key.
func tombstone(del *plugin.SourceRecord) *plugin.SourceRecord {
	return &plugin.SourceRecord{SourcePartition: del.SourcePartition, SourceOffset: del.SourceOffset, Topic: del.Topic,
		KeySchema: del.KeySchema, Key: del.Key, Timestamp: del.Timestamp}
}

// partition is Debezium's source partition for PostgreSQL.
func (c *config) partition() map[string]any {
	if c.part == nil {
		c.part = map[string]any{"server": c.prefix}
	}
	return c.part
}

var heartbeatKeySchema = &plugin.Schema{Type: plugin.StructT, Name: "io.debezium.connector.common.ServerNameKey", Fields: []plugin.Field{
	{Name: "serverName", Schema: &plugin.Schema{Type: plugin.String}},
}}

var heartbeatValueSchema = &plugin.Schema{Type: plugin.StructT, Name: "io.debezium.connector.common.Heartbeat", Fields: []plugin.Field{
	{Name: "ts_ms", Schema: &plugin.Schema{Type: plugin.Int64}},
}}

func (c *config) heartbeat(off map[string]any) *plugin.SourceRecord {
	now := time.Now()
	return &plugin.SourceRecord{
		SourcePartition: c.partition(), SourceOffset: off, Topic: c.heartbeatTopic,
		KeySchema: heartbeatKeySchema, Key: plugin.NewStruct(heartbeatKeySchema).Put("serverName", c.prefix),
		ValueSchema: heartbeatValueSchema, Value: plugin.NewStruct(heartbeatValueSchema).Put("ts_ms", now.UnixMilli()),
		Timestamp: now,
	}
}

var messageKeySchema = &plugin.Schema{Type: plugin.StructT, Name: "io.debezium.connector.postgresql.MessageKey", Fields: []plugin.Field{
	{Name: "prefix", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
}}

var messageBlockSchema = &plugin.Schema{Type: plugin.StructT, Optional: true, Name: "io.debezium.connector.postgresql.Message", Fields: []plugin.Field{
	{Name: "prefix", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
	{Name: "content", Schema: &plugin.Schema{Type: plugin.Bytes, Optional: true}},
}}

var messageValueSchema = &plugin.Schema{Type: plugin.StructT, Name: "io.debezium.connector.postgresql.MessageValue", Fields: []plugin.Field{
	{Name: "op", Schema: &plugin.Schema{Type: plugin.String}},
	{Name: "ts_ms", Schema: &plugin.Schema{Type: plugin.Int64, Optional: true}},
	{Name: "source", Schema: sourceSchema},
	{Name: "message", Schema: messageBlockSchema},
}}

// message is a logical decoding message event (topic <prefix>.message).
func (c *config) message(m *LogicalMsg, s srcInfo, off map[string]any) *plugin.SourceRecord {
	src := c.source(&table{}, s)
	v := plugin.NewStruct(messageValueSchema).Put("op", "m").Put("ts_ms", time.Now().UnixMilli()).Put("source", src).
		Put("message", plugin.NewStruct(messageBlockSchema).Put("prefix", m.Prefix).Put("content", append([]byte(nil), m.Content...)))
	return &plugin.SourceRecord{
		SourcePartition: c.partition(), SourceOffset: off, Topic: c.prefix + ".message",
		KeySchema: messageKeySchema, Key: plugin.NewStruct(messageKeySchema).Put("prefix", m.Prefix),
		ValueSchema: messageValueSchema, Value: v, Timestamp: time.Now(),
	}
}

// keyHeader renders a key for the __debezium.oldkey/newkey headers.
func keyHeader(k *plugin.Struct) []byte {
	b, _ := json.Marshal(k)
	return b
}
