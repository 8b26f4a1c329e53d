package postgrescdc

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connect/plugin"
)

// configDef lists Debezium's PostgreSQL connector keys we implement, with
// Debezium's defaults (except plugin.name: only pgoutput is built in).
var configDef = plugin.ConfigDef{
	{Name: "database.hostname", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "PostgreSQL host."},
	{Name: "database.port", Type: plugin.TypeInt, Default: "5432", Importance: plugin.High, Documentation: "PostgreSQL port."},
	{Name: "database.user", Type: plugin.TypeString, Required: true, Importance: plugin.High, Documentation: "User with REPLICATION and SELECT rights."},
	{Name: "database.password", Type: plugin.TypePassword, Default: "", Importance: plugin.High, Documentation: "Password."},
	{Name: "database.dbname", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Database to capture."},
	{Name: "database.sslmode", Type: plugin.TypeString, Default: "prefer", Validator: plugin.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full"), Importance: plugin.Medium, Documentation: "libpq sslmode."},
	{Name: "topic.prefix", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Logical server name: topics are <prefix>.<schema>.<table>."},
	{Name: "schema.include.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of schemas to capture."},
	{Name: "schema.exclude.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of schemas not to capture."},
	{Name: "table.include.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of <schema>.<table> to capture."},
	{Name: "table.exclude.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of <schema>.<table> not to capture."},
	{Name: "column.include.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of <schema>.<table>.<column> to include."},
	{Name: "column.exclude.list", Type: plugin.TypeList, Default: "", Validator: regexList, Importance: plugin.Medium, Documentation: "Regexes of <schema>.<table>.<column> to leave out."},
	{Name: "plugin.name", Type: plugin.TypeString, Default: "pgoutput", Validator: pluginName, Importance: plugin.Medium, Documentation: "Logical decoding plugin; only pgoutput is supported."},
	{Name: "slot.name", Type: plugin.TypeString, Default: "debezium", Validator: plugin.NonEmpty(), Importance: plugin.Medium, Documentation: "Replication slot name."},
	{Name: "slot.drop.on.stop", Type: plugin.TypeBoolean, Default: "false", Importance: plugin.Low, Documentation: "Drop the slot when the task stops (tests, not production)."},
	{Name: "publication.name", Type: plugin.TypeString, Default: "dbz_publication", Validator: plugin.NonEmpty(), Importance: plugin.Medium, Documentation: "Publication to stream."},
	{Name: "publication.autocreate.mode", Type: plugin.TypeString, Default: "all_tables", Validator: plugin.OneOf("all_tables", "filtered", "disabled"), Importance: plugin.Medium, Documentation: "all_tables: FOR ALL TABLES; filtered: the tables the filters select; disabled: the publication must exist."},
	{Name: "snapshot.mode", Type: plugin.TypeString, Default: "initial", Validator: plugin.OneOf("initial", "always", "initial_only", "no_data", "never", "when_needed"), Importance: plugin.Medium, Documentation: "When to snapshot the tables."},
	{Name: "snapshot.fetch.size", Type: plugin.TypeInt, Default: "10240", Validator: plugin.AtLeast(1), Importance: plugin.Low, Documentation: "Rows read per snapshot fetch."},
	{Name: "heartbeat.interval.ms", Type: plugin.TypeInt, Default: "0", Validator: plugin.AtLeast(0), Importance: plugin.Medium, Documentation: "Emit heartbeats this often (0: never), so the slot advances while captured tables are idle."},
	{Name: "heartbeat.action.query", Type: plugin.TypeString, Default: "", Importance: plugin.Low, Documentation: "SQL run at each heartbeat, to create WAL traffic on an idle database."},
	{Name: "topic.heartbeat.prefix", Type: plugin.TypeString, Default: "__debezium-heartbeat", Importance: plugin.Low, Documentation: "Heartbeat topic: <prefix>.<topic.prefix>."},
	{Name: "tombstones.on.delete", Type: plugin.TypeBoolean, Default: "true", Importance: plugin.Medium, Documentation: "Follow each delete with a tombstone."},
	{Name: "skipped.operations", Type: plugin.TypeList, Default: "t", Validator: skippedOps, Importance: plugin.Low, Documentation: "Operations not emitted: c, u, d, t, or none."},
	{Name: "decimal.handling.mode", Type: plugin.TypeString, Default: "precise", Validator: plugin.OneOf("precise", "double", "string"), Importance: plugin.Medium, Documentation: "How numeric columns are emitted."},
	{Name: "time.precision.mode", Type: plugin.TypeString, Default: "adaptive", Validator: plugin.OneOf("adaptive", "adaptive_time_microseconds", "connect"), Importance: plugin.Medium, Documentation: "How temporal columns are emitted."},
	{Name: "unavailable.value.placeholder", Type: plugin.TypeString, Default: "__debezium_unavailable_value", Importance: plugin.Low, Documentation: "Stands for unchanged TOAST values PostgreSQL did not send."},
	{Name: "max.batch.size", Type: plugin.TypeInt, Default: "2048", Validator: plugin.AtLeast(1), Importance: plugin.Medium, Documentation: "Most records returned by one poll."},
	{Name: "max.queue.size", Type: plugin.TypeInt, Default: "8192", Validator: plugin.AtLeast(1), Importance: plugin.Low, Documentation: "Replication messages buffered ahead of polls."},
	{Name: "status.update.interval.ms", Type: plugin.TypeInt, Default: "10000", Validator: plugin.AtLeast(1), Importance: plugin.Low, Documentation: "How often the flushed position is reported to PostgreSQL."},
}

func regexList(name, v string) error {
	for _, x := range plugin.SplitList(v) {
		if _, err := regexp.Compile(x); err != nil {
			return fmt.Errorf("Invalid value %s for configuration %s: %v", v, name, err)
		}
	}
	return nil
}

func pluginName(name, v string) error {
	if strings.TrimSpace(v) != "pgoutput" {
		return fmt.Errorf("Invalid value %s for configuration %s: only pgoutput is supported (decoderbufs and wal2json are not)", v, name)
	}
	return nil
}

func skippedOps(name, v string) error {
	for _, x := range plugin.SplitList(v) {
		switch x {
		case "c", "u", "d", "t", "none":
		default:
			return fmt.Errorf("Invalid value %s for configuration %s: operations are c, u, d, t or none", v, name)
		}
	}
	return nil
}

// config is a task's parsed configuration.
type config struct {
	host, user, password, dbname, sslmode string
	port                                  int
	prefix                                string
	schemaInc, schemaExc                  []*regexp.Regexp
	tableInc, tableExc                    []*regexp.Regexp
	colInc, colExc                        []*regexp.Regexp
	slot                                  string
	dropSlot                              bool
	publication, pubMode                  string
	snapshotMode                          string
	fetchSize                             int
	heartbeatMS                           int64
	heartbeatQuery                        string
	heartbeatTopic                        string
	tombstones                            bool
	skip                                  map[string]bool
	decimalMode, timeMode                 string
	placeholder                           string
	maxBatch, maxQueue                    int
	statusMS                              int64
	part                                  map[string]any // the source partition, shared by records
}

func parseConfig(m map[string]string) (*config, error) {
	p, err := configDef.Parse(m)
	if err != nil {
		return nil, err
	}
	res := func(name string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, x := range p.List(name) {
			out = append(out, regexp.MustCompile("^(?:"+x+")$"))
		}
		return out
	}
	c := &config{
		host: p.String("database.hostname"), port: int(p.Int("database.port")), user: p.String("database.user"),
		password: m["database.password"], dbname: p.String("database.dbname"), sslmode: p.String("database.sslmode"),
		prefix:    p.String("topic.prefix"),
		schemaInc: res("schema.include.list"), schemaExc: res("schema.exclude.list"),
		tableInc: res("table.include.list"), tableExc: res("table.exclude.list"),
		colInc: res("column.include.list"), colExc: res("column.exclude.list"),
		slot: p.String("slot.name"), dropSlot: p.Bool("slot.drop.on.stop"),
		publication: p.String("publication.name"), pubMode: p.String("publication.autocreate.mode"),
		snapshotMode: p.String("snapshot.mode"), fetchSize: int(p.Int("snapshot.fetch.size")),
		heartbeatMS: p.Int("heartbeat.interval.ms"), heartbeatQuery: p.String("heartbeat.action.query"),
		heartbeatTopic: p.String("topic.heartbeat.prefix") + "." + p.String("topic.prefix"),
		tombstones:     p.Bool("tombstones.on.delete"), skip: map[string]bool{},
		decimalMode: p.String("decimal.handling.mode"), timeMode: p.String("time.precision.mode"),
		placeholder: p.String("unavailable.value.placeholder"),
		maxBatch:    int(p.Int("max.batch.size")), maxQueue: int(p.Int("max.queue.size")),
		statusMS: p.Int("status.update.interval.ms"),
	}
	if c.snapshotMode == "never" {
		c.snapshotMode = "no_data"
	}
	for _, op := range p.List("skipped.operations") {
		if op != "none" {
			c.skip[op] = true
		}
	}
	return c, nil
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, r := range res {
		if r.MatchString(s) {
			return true
		}
	}
	return false
}

// captured says whether the filters select a table.
func (c *config) captured(schema, table string) bool {
	switch schema {
	case "pg_catalog", "information_schema":
		return false
	}
	if strings.HasPrefix(schema, "pg_toast") || strings.HasPrefix(schema, "pg_temp") {
		return false
	}
	if len(c.schemaInc) > 0 && !anyMatch(c.schemaInc, schema) || anyMatch(c.schemaExc, schema) {
		return false
	}
	full := schema + "." + table
	if len(c.tableInc) > 0 && !anyMatch(c.tableInc, full) || anyMatch(c.tableExc, full) {
		return false
	}
	return true
}

// columnCaptured says whether the filters keep a column.
func (c *config) columnCaptured(schema, table, col string) bool {
	full := schema + "." + table + "." + col
	if len(c.colInc) > 0 && !anyMatch(c.colInc, full) {
		return false
	}
	return !anyMatch(c.colExc, full)
}

// pgConfig builds a pgconn config; replication connections stream WAL.
func (c *config) pgConfig(replication bool) (*pgconn.Config, error) {
	q := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `\'`) + "'"
	}
	dsn := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=%s connect_timeout=10",
		q(c.host), c.port, q(c.user), q(c.password), q(c.dbname), c.sslmode)
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	// Output functions run with these settings, so text forms are the ones
	// the decoders expect.
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
		"extra_float_digits": "3", "bytea_output": "hex", "application_name": "sluice-postgrescdc"} {
		cfg.RuntimeParams[k] = v
	}
	if replication {
		cfg.RuntimeParams["replication"] = "database"
	}
	return cfg, nil
}
