package postgrescdc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// replConn is a connection in replication=database mode.
type replConn struct {
	conn *pgconn.PgConn

	// After START_REPLICATION one goroutine reads CopyData into msgs; the
	// task's goroutine decodes them and writes status updates.
	msgs chan []byte
	errc chan error
	stop chan struct{}
	wg   sync.WaitGroup
}

func dialRepl(ctx context.Context, c *config) (*replConn, error) {
	cfg, err := c.pgConfig(true)
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &replConn{conn: conn}, nil
}

func simple(ctx context.Context, conn *pgconn.PgConn, sql string) ([]*pgconn.Result, error) {
	return conn.Exec(ctx, sql).ReadAll()
}

// identifySystem returns the server's current WAL position.
func (r *replConn) identifySystem(ctx context.Context) (LSN, error) {
	res, err := simple(ctx, r.conn, "IDENTIFY_SYSTEM")
	if err != nil {
		return 0, fmt.Errorf("IDENTIFY_SYSTEM: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 3 {
		return 0, errors.New("IDENTIFY_SYSTEM: unexpected result")
	}
	return ParseLSN(string(res[0].Rows[0][2]))
}

// createSlot creates a logical slot with pgoutput. With export, the
// returned snapshot name lets another session read the database exactly as
// of the slot's consistent point, until this connection runs another
// command.
func (r *replConn) createSlot(ctx context.Context, slot string, export bool) (LSN, string, error) {
	mode := "nothing"
	if export {
		mode = "export"
	}
	res, err := simple(ctx, r.conn, fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT '%s')", quoteIdent(slot), mode))
	if err != nil {
		return 0, "", fmt.Errorf("creating replication slot %s: %w", slot, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 4 {
		return 0, "", errors.New("CREATE_REPLICATION_SLOT: unexpected result")
	}
	row := res[0].Rows[0]
	lsn, err := ParseLSN(string(row[1]))
	return lsn, string(row[2]), err
}

// start issues START_REPLICATION and begins reading.
func (r *replConn) start(ctx context.Context, slot, publication string, from LSN, queue int) error {
	sql := fmt.Sprintf("START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names '%s', messages 'true')",
		quoteIdent(slot), from, strings.ReplaceAll(quoteIdent(publication), "'", "''"))
	r.conn.Frontend().Send(&pgproto3.Query{String: sql})
	if err := r.conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("START_REPLICATION: %w", err)
	}
	for {
		msg, err := r.conn.ReceiveMessage(ctx)
		if err != nil {
			return fmt.Errorf("START_REPLICATION: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			r.msgs = make(chan []byte, queue)
			r.errc = make(chan error, 1)
			r.stop = make(chan struct{})
			r.wg.Add(1)
			go r.read()
			return nil
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("START_REPLICATION: %w", pgconn.ErrorResponseToPgError(m))
		}
	}
}

// read runs until the connection fails or close stops it.
func (r *replConn) read() {
	defer r.wg.Done()
	for {
		msg, err := r.conn.ReceiveMessage(context.Background())
		if err != nil {
			r.errc <- err
			return
		}
		var out []byte
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			out = append([]byte(nil), m.Data...) // the frontend reuses its buffer
		case *pgproto3.ErrorResponse:
			r.errc <- pgconn.ErrorResponseToPgError(m)
			return
		case *pgproto3.CopyDone:
			r.errc <- errors.New("server ended the replication stream")
			return
		default:
			continue
		}
		select {
		case r.msgs <- out:
		case <-r.stop:
			return
		}
	}
}

// sendStatus reports positions: write is what was received, flush what is
// durable downstream (PostgreSQL may discard WAL before it).
func (r *replConn) sendStatus(write, flush LSN, reply bool) error {
	buf := make([]byte, 34)
	buf[0] = 'r'
	binary.BigEndian.PutUint64(buf[1:], uint64(write))
	binary.BigEndian.PutUint64(buf[9:], uint64(flush))
	binary.BigEndian.PutUint64(buf[17:], uint64(flush))
	binary.BigEndian.PutUint64(buf[25:], uint64(time.Since(pgEpoch).Microseconds()))
	if reply {
		buf[33] = 1
	}
	r.conn.Frontend().Send(&pgproto3.CopyData{Data: buf})
	return r.conn.Frontend().Flush()
}

// close ends the connection and its reader.
func (r *replConn) close() {
	if r == nil || r.conn == nil {
		return
	}
	if r.stop != nil {
		close(r.stop)
		// Unblock the reader by closing the socket, then wait for it
		// before pgconn's own close touches the connection state.
		r.conn.Conn().Close()
		r.wg.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.conn.Close(ctx)
	r.conn = nil
}

// xlogData is a 'w' message's header and payload.
type xlogData struct {
	start, end LSN
	data       []byte
}

// parseCopyData splits a replication CopyData message: XLogData ('w') or a
// primary keepalive ('k').
func parseCopyData(b []byte) (w *xlogData, keepaliveEnd LSN, reply bool, err error) {
	if len(b) == 0 {
		return nil, 0, false, errShort
	}
	switch b[0] {
	case 'w':
		if len(b) < 25 {
			return nil, 0, false, errShort
		}
		return &xlogData{start: LSN(binary.BigEndian.Uint64(b[1:])), end: LSN(binary.BigEndian.Uint64(b[9:])), data: b[25:]}, 0, false, nil
	case 'k':
		if len(b) < 18 {
			return nil, 0, false, errShort
		}
		return nil, LSN(binary.BigEndian.Uint64(b[1:])), b[17] == 1, nil
	}
	return nil, 0, false, fmt.Errorf("unknown replication message %q", b[0])
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
