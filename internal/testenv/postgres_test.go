package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPostgresStartsWithLogicalWAL(t *testing.T) {
	pg := StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	query := func() string {
		c, err := pgconn.Connect(ctx, pg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		res, err := c.Exec(ctx, "SHOW wal_level").ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return string(res[0].Rows[0][0])
	}
	if got := query(); got != "logical" {
		t.Fatalf("wal_level = %q", got)
	}
	pg.Restart(t)
	if got := query(); got != "logical" {
		t.Fatalf("after restart wal_level = %q", got)
	}
	if c, err := pgconn.Connect(ctx, pg.DSNFor("postgres", "wrong", "postgres")); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
}
