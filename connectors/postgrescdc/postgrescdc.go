// Package postgrescdc is a PostgreSQL change data capture source shaped like
// Debezium's PostgreSQL connector: same class name, config keys, topics,
// event envelopes and Connect schemas, and offsets. It snapshots the tables
// through the exported snapshot of a new logical replication slot, then
// streams pgoutput changes from that slot, and confirms WAL to PostgreSQL
// only up to what Connect has committed.
package postgrescdc

import (
	"github.com/sluicehq/sluice/connect/plugin"
)

// Class is Debezium's class name, so Debezium configs work unchanged.
const Class = "io.debezium.connector.postgresql.PostgresConnector"

func init() {
	plugin.Register(plugin.Plugin{
		Class:   Class,
		Aliases: []string{"io.sluice.connect.postgrescdc.PostgresCdcConnector"},
		Kind:    plugin.Source, Version: Version,
		New: func() plugin.Connector { return &connector{} },
	})
}

type connector struct{ cfg map[string]string }

func (c *connector) ConfigDef() plugin.ConfigDef { return configDef }

func (c *connector) Start(cfg map[string]string) error {
	if _, err := parseConfig(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs returns one task: a replication slot has one reader.
func (c *connector) TaskConfigs(int) ([]map[string]string, error) {
	m := make(map[string]string, len(c.cfg))
	for k, v := range c.cfg {
		m[k] = v
	}
	return []map[string]string{m}, nil
}

func (c *connector) Stop() error                { return nil }
func (c *connector) NewTask() plugin.SourceTask { return &task{} }
