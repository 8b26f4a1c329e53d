package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// query runs a parameterised catalog query and returns its rows as text.
func query(ctx context.Context, conn *pgconn.PgConn, sql string, args ...string) ([][][]byte, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := conn.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Rows, nil
}

// attr is a column as the catalog describes it.
type attr struct {
	name    string
	typ     uint32
	typmod  int32
	notNull bool
	pk      bool
}

// attrs lists a table's live columns in order, without generated
// columns (pgoutput does not send them).
func attrs(ctx context.Context, conn *pgconn.PgConn, relid uint32) ([]attr, error) {
	rows, err := query(ctx, conn, `SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,
		EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey))
		FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`,
		strconv.FormatUint(uint64(relid), 10))
	if err != nil {
		return nil, fmt.Errorf("reading columns of relation %d: %w", relid, err)
	}
	out := make([]attr, 0, len(rows))
	for _, r := range rows {
		oid, _ := strconv.ParseUint(string(r[1]), 10, 32)
		mod, _ := strconv.ParseInt(string(r[2]), 10, 32)
		out = append(out, attr{name: string(r[0]), typ: uint32(oid), typmod: int32(mod), notNull: string(r[3]) == "t", pk: string(r[4]) == "t"})
	}
	return out, nil
}

// relInfo names a table.
type relInfo struct {
	id           uint32
	schema, name string
}

// listTables returns the ordinary tables the filters capture.
func listTables(ctx context.Context, conn *pgconn.PgConn, c *config) ([]relInfo, error) {
	rows, err := query(ctx, conn, `SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	var out []relInfo
	for _, r := range rows {
		oid, _ := strconv.ParseUint(string(r[0]), 10, 32)
		if c.captured(string(r[1]), string(r[2])) {
			out = append(out, relInfo{id: uint32(oid), schema: string(r[1]), name: string(r[2])})
		}
	}
	return out, nil
}

// lookupType reads a non-builtin type from the catalog.
func lookupType(ctx context.Context, conn *pgconn.PgConn, oid uint32) (*pgType, error) {
	rows, err := query(ctx, conn, `SELECT t.typname, t.typtype, t.typelem, t.typbasetype, t.typcategory,
		COALESCE((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
		FROM pg_type t WHERE t.oid = $1`, strconv.FormatUint(uint64(oid), 10))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0]
	elem, _ := strconv.ParseUint(string(r[2]), 10, 32)
	base, _ := strconv.ParseUint(string(r[3]), 10, 32)
	t := &pgType{Name: string(r[0]), Elem: uint32(elem), Base: uint32(base)}
	if len(r[1]) > 0 {
		t.Kind = r[1][0]
	}
	if len(r[4]) > 0 {
		t.Category = r[4][0]
	}
	if len(r[5]) > 0 {
		t.Labels = strings.Split(string(r[5]), ",")
	}
	return t, nil
}

// checkServer fails early, with a clear message, on a server that cannot do
// logical decoding.
func checkServer(ctx context.Context, conn *pgconn.PgConn) error {
	res, err := simple(ctx, conn, "SHOW wal_level")
	if err != nil {
		return err
	}
	if lvl := string(res[0].Rows[0][0]); lvl != "logical" {
		return fmt.Errorf("PostgreSQL's wal_level is %q; logical decoding needs wal_level=logical (set it in postgresql.conf and restart PostgreSQL)", lvl)
	}
	return nil
}

// ensurePublication creates or checks the publication per
// publication.autocreate.mode.
func ensurePublication(ctx context.Context, conn *pgconn.PgConn, c *config) error {
	rows, err := query(ctx, conn, "SELECT puballtables FROM pg_publication WHERE pubname = $1", c.publication)
	if err != nil {
		return fmt.Errorf("checking publication %s: %w", c.publication, err)
	}
	exists := len(rows) == 1
	switch c.pubMode {
	case "disabled":
		if !exists {
			return fmt.Errorf("publication %q does not exist and publication.autocreate.mode is disabled; create it (CREATE PUBLICATION %s FOR ...) or change the mode", c.publication, quoteIdent(c.publication))
		}
		return nil
	case "all_tables":
		if exists {
			return nil
		}
		_, err = simple(ctx, conn, "CREATE PUBLICATION "+quoteIdent(c.publication)+" FOR ALL TABLES")
	case "filtered":
		tables, lerr := listTables(ctx, conn, c)
		if lerr != nil {
			return lerr
		}
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = quoteIdent(t.schema) + "." + quoteIdent(t.name)
		}
		switch {
		case len(names) == 0 && !exists:
			_, err = simple(ctx, conn, "CREATE PUBLICATION "+quoteIdent(c.publication))
		case len(names) == 0:
		case exists:
			_, err = simple(ctx, conn, "ALTER PUBLICATION "+quoteIdent(c.publication)+" SET TABLE "+strings.Join(names, ", "))
		default:
			_, err = simple(ctx, conn, "CREATE PUBLICATION "+quoteIdent(c.publication)+" FOR TABLE "+strings.Join(names, ", "))
		}
	}
	if err != nil {
		return fmt.Errorf("creating publication %s: %w", c.publication, err)
	}
	return nil
}

// slotExists reports whether the slot exists in the database.
func slotExists(ctx context.Context, conn *pgconn.PgConn, c *config) (bool, error) {
	rows, err := query(ctx, conn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", c.slot)
	if err != nil {
		return false, fmt.Errorf("checking replication slot %s: %w", c.slot, err)
	}
	return len(rows) == 1, nil
}

// dropSlot drops the slot, waiting (up to 30 s) for a previous reader that
// died to be noticed by the server.
func dropSlot(ctx context.Context, conn *pgconn.PgConn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := query(ctx, conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("dropping replication slot %s: %w", slot, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
