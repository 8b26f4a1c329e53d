package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PostgresBin is where `make testdeps` installs PostgreSQL 15.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// PostgresPassword is the password of the superuser "postgres" in every
// server StartPostgres starts; TCP connections must give it.
const PostgresPassword = "sluice-test"

// Postgres is a PostgreSQL server started for one test: its own data
// directory, a loopback port, password (scram) auth over TCP.
type Postgres struct {
	// DSN connects as the superuser "postgres" to database "postgres".
	DSN  string
	Host string
	Port int
	Dir  string // data directory

	logFile string
	asUser  string // non-empty when the server runs as another OS user
	mu      sync.Mutex
	stopped bool
}

// PostgresOption adds settings to postgresql.conf before the server starts.
type PostgresOption func(settings map[string]string)

// WithPostgresSettings sets postgresql.conf parameters (wal_level,
// logical_decoding_work_mem, ...), overriding the defaults below.
func WithPostgresSettings(kv map[string]string) PostgresOption {
	return func(s map[string]string) {
		for k, v := range kv {
			s[k] = v
		}
	}
}

// StartPostgres initialises a cluster in a fresh directory and starts it
// with wal_level=logical, listening on 127.0.0.1 on a free port with its unix
// socket inside that directory. PostgreSQL refuses to run as root, so when
// the test runs as root the server runs as the "postgres" OS user. The
// server is stopped (immediate mode) and its directory removed at cleanup.
// A missing PostgreSQL fails the test with instructions: tests never skip.
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(PostgresBin, b)); err != nil {
			t.Fatalf("PostgreSQL 15 not found at %s: run `make testdeps`", PostgresBin)
		}
	}
	p := &Postgres{Host: "127.0.0.1"}
	if os.Geteuid() == 0 {
		p.asUser = "postgres"
	}
	// t.TempDir sits under 0700 directories the postgres user cannot
	// reach, so the server gets a directory of its own under the system
	// temp dir.
	base, err := os.MkdirTemp("", "sluice-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if p.asUser != "" {
		if err := chownTo(base, p.asUser); err != nil {
			t.Fatalf("postgres test dir: %v", err)
		}
	}
	p.Dir = filepath.Join(base, "data")
	p.logFile = filepath.Join(base, "postgres.log")
	pwfile := filepath.Join(base, "pwfile")
	if err := os.WriteFile(pwfile, []byte(PostgresPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p.asUser != "" {
		if err := chownTo(pwfile, p.asUser); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run("initdb", "-D", p.Dir, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p.Port = port
	settings := map[string]string{
		"listen_addresses":        "'127.0.0.1'",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": "'" + base + "'",
		"wal_level":               "logical",
		"max_replication_slots":   "10",
		"max_wal_senders":         "10",
		"fsync":                   "off", // tests kill processes, not machines
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"shared_buffers":          "32MB",
		"max_connections":         "50",
	}
	for _, o := range opts {
		o(settings)
	}
	var conf strings.Builder
	conf.WriteString("\n# sluice testenv\n")
	for k, v := range settings {
		fmt.Fprintf(&conf, "%s = %s\n", k, v)
	}
	f, err := os.OpenFile(filepath.Join(p.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf.String())
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hba := "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(p.Dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if p.asUser != "" {
		if err := chownTo(filepath.Join(p.Dir, "pg_hba.conf"), p.asUser); err != nil {
			t.Fatal(err)
		}
	}
	p.DSN = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", PostgresPassword, port)
	if out, err := p.run("pg_ctl", "-D", p.Dir, "-l", p.logFile, "-w", "-t", "60", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, p.Logs())
	}
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("postgres log:\n%s", p.Logs())
		}
	})
	return p
}

// Restart stops the server (fast mode: sessions are ended, as in a
// database restart under load) and starts it again on the same port.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.Dir, "-l", p.logFile, "-w", "-t", "60", "-m", "fast", "restart"); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s\n%s", err, out, p.Logs())
	}
	p.mu.Lock()
	p.stopped = false
	p.mu.Unlock()
}

// Stop ends the server at once (immediate mode); calling it again does
// nothing.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if out, err := p.run("pg_ctl", "-D", p.Dir, "-w", "-m", "immediate", "stop"); err != nil {
		t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// DSNFor connects as user with password to database db.
func (p *Postgres) DSNFor(user, password, db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", user, password, p.Port, db)
}

// Logs returns the server's log so far.
func (p *Postgres) Logs() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

func (p *Postgres) run(prog string, args ...string) ([]byte, error) {
	bin := filepath.Join(PostgresBin, prog)
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.asUser, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

func chownTo(path, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
