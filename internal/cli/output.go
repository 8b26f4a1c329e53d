package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// Output formats of -o/--output.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func addOutputFlag(cmd *cobra.Command, dst *string) {
	cmd.PersistentFlags().StringVarP(dst, "output", "o", outputTable, "output format: table, json or yaml")
}

func checkOutput(format string) error {
	switch format {
	case "", outputTable, outputJSON, outputYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q (want table, json or yaml)", format)
}

// table is rows of cells printed as aligned columns under a header.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if len(t.header) > 0 {
		line(t.header)
	}
	for _, r := range t.rows {
		line(r)
	}
	return tw.Flush()
}

// render writes v as JSON or YAML, or the tables (separated by a blank
// line), by format. v's fields carry json and yaml tags with the same
// stable names.
func render(w io.Writer, format string, v any, tables ...*table) error {
	switch format {
	case outputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case outputYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	case "", outputTable:
		for i, t := range tables {
			if i > 0 {
				fmt.Fprintln(w)
			}
			if err := t.write(w); err != nil {
				return err
			}
		}
		return nil
	}
	return checkOutput(format)
}

// orDash shows an absent value in a table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInt32s(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}
