package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultConnect is where connector commands look for Connect unless told.
const defaultConnect = "http://127.0.0.1:8083"

// connectorFlags are the flags every `sluice connector` subcommand shares.
type connectorFlags struct {
	connect string
	timeout time.Duration
	output  string
}

// connectAPIError is Connect's {"error_code":N,"message":"..."}.
type connectAPIError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *connectAPIError) Error() string {
	return fmt.Sprintf("connect: %s (error code %d)", strings.Join(strings.Fields(e.Message), " "), e.Code)
}

// connectorCall sends a request to Connect and decodes the answer into out.
func (f *connectorFlags) connectorCall(ctx context.Context, method, path string, body, out any) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	u, err := url.Parse(f.connect)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--connect %q: want a URL such as %s", f.connect, defaultConnect)
	}
	status, data, err := restCall(ctx, "Connect", f.connect, method, path, body, f.timeout)
	if err != nil {
		return err
	}
	if status >= 300 {
		e := &connectAPIError{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Code, e.Message = status, strings.TrimSpace(string(data))
		}
		return e
	}
	return decodeAnswer(data, out)
}

func connectorPath(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func init() {
	register(func() *cobra.Command {
		f := &connectorFlags{}
		cmd := &cobra.Command{
			Use:   "connector",
			Short: "Manage connectors through a Kafka Connect-compatible REST API",
		}
		def := defaultConnect
		if v := os.Getenv("SLUICE_CONNECT"); v != "" {
			def = v
		}
		pf := cmd.PersistentFlags()
		pf.StringVar(&f.connect, "connect", def, "Connect REST URL (env SLUICE_CONNECT)")
		pf.DurationVar(&f.timeout, "request-timeout", 2*time.Minute, "how long to wait for Connect to answer")
		addOutputFlag(cmd, &f.output)
		cmd.AddCommand(connectorCreateCmd(f), connectorListCmd(f), connectorStatusCmd(f), connectorConfigCmd(f),
			connectorStateCmd(f, "pause", "PUT", "Pause a connector and its tasks"),
			connectorStateCmd(f, "resume", "PUT", "Resume a paused or stopped connector"),
			connectorStateCmd(f, "stop", "PUT", "Stop a connector: shut its tasks down, keep its config and offsets"),
			connectorStateCmd(f, "restart", "POST", "Restart a connector and its tasks"),
			connectorDeleteCmd(f), connectorOffsetsCmd(f))
		return cmd
	})
}

// connectorInfo is GET /connectors/{c} and the create answer.
type connectorInfo struct {
	Name   string            `json:"name" yaml:"name"`
	Config map[string]string `json:"config" yaml:"config"`
	Tasks  []struct {
		Connector string `json:"connector" yaml:"connector"`
		Task      int    `json:"task" yaml:"task"`
	} `json:"tasks" yaml:"tasks"`
	Type string `json:"type" yaml:"type"`
}

// connectorReadFile reads a connector JSON file in Kafka Connect's POST
// shape ({"name","config"}) or as a flat config holding "name".
func connectorReadFile(cmd *cobra.Command, path string) (string, map[string]string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", nil, err
	}
	var wrapped struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.Config != nil {
		if wrapped.Name == "" {
			wrapped.Name = wrapped.Config["name"]
		}
		return wrapped.Name, wrapped.Config, nil
	}
	var flat map[string]string
	if err := json.Unmarshal(data, &flat); err != nil {
		return "", nil, fmt.Errorf("%s: not a connector config (want {\"name\":...,\"config\":{...}} or a flat string map): %v", path, err)
	}
	return flat["name"], flat, nil
}

func connectorCreateCmd(f *connectorFlags) *cobra.Command {
	var file, name string
	var upsert bool
	cmd := &cobra.Command{
		Use:   "create -f FILE.json",
		Short: "Create a connector from a Kafka Connect JSON config (--upsert replaces an existing one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("give the connector config with -f FILE.json (- for stdin)")
			}
			n, cfg, err := connectorReadFile(cmd, file)
			if err != nil {
				return err
			}
			if name != "" {
				n = name
			}
			if n == "" {
				return errors.New("the connector has no name: set \"name\" in the file or pass --name")
			}
			var info connectorInfo
			if upsert {
				err = f.connectorCall(cmd.Context(), "PUT", connectorPath("connectors", n, "config"), cfg, &info)
			} else {
				err = f.connectorCall(cmd.Context(), "POST", "/connectors", map[string]any{"name": n, "config": cfg}, &info)
			}
			if err != nil {
				return err
			}
			t := &table{header: []string{"NAME", "TYPE", "CLASS"}}
			t.add(info.Name, info.Type, info.Config["connector.class"])
			return render(cmd.OutOrStdout(), f.output, info, t)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "connector JSON file (- for stdin)")
	cmd.Flags().StringVar(&name, "name", "", "connector name (overrides the file's)")
	cmd.Flags().BoolVar(&upsert, "upsert", false, "create or replace (PUT /connectors/{name}/config)")
	return cmd
}

// connectorStatus is GET /connectors/{c}/status.
type connectorStatus struct {
	Name      string `json:"name" yaml:"name"`
	Connector struct {
		State    string `json:"state" yaml:"state"`
		WorkerID string `json:"worker_id" yaml:"worker_id"`
		Trace    string `json:"trace,omitempty" yaml:"trace,omitempty"`
	} `json:"connector" yaml:"connector"`
	Tasks []struct {
		ID       int    `json:"id" yaml:"id"`
		State    string `json:"state" yaml:"state"`
		WorkerID string `json:"worker_id" yaml:"worker_id"`
		Trace    string `json:"trace,omitempty" yaml:"trace,omitempty"`
	} `json:"tasks" yaml:"tasks"`
	Type string `json:"type" yaml:"type"`
}

func connectorListCmd(f *connectorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List connectors with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all map[string]struct {
				Status connectorStatus `json:"status" yaml:"status"`
			}
			if err := f.connectorCall(cmd.Context(), "GET", "/connectors?expand=status", nil, &all); err != nil {
				return err
			}
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			t := &table{header: []string{"NAME", "TYPE", "STATE", "TASKS"}}
			list := make([]connectorStatus, 0, len(names))
			for _, n := range names {
				s := all[n].Status
				s.Name = n
				list = append(list, s)
				running := 0
				for _, ts := range s.Tasks {
					if ts.State == "RUNNING" {
						running++
					}
				}
				t.add(n, orDash(s.Type), orDash(s.Connector.State), fmt.Sprintf("%d/%d running", running, len(s.Tasks)))
			}
			return render(cmd.OutOrStdout(), f.output, list, t)
		},
	}
}

func connectorStatusCmd(f *connectorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show a connector's and its tasks' states",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s connectorStatus
			if err := f.connectorCall(cmd.Context(), "GET", connectorPath("connectors", args[0], "status"), nil, &s); err != nil {
				return err
			}
			t := &table{header: []string{"ID", "STATE", "WORKER", "TRACE"}}
			t.add("connector", s.Connector.State, orDash(s.Connector.WorkerID), orDash(firstLine(s.Connector.Trace)))
			for _, ts := range s.Tasks {
				t.add(fmt.Sprintf("task %d", ts.ID), ts.State, orDash(ts.WorkerID), orDash(firstLine(ts.Trace)))
			}
			return render(cmd.OutOrStdout(), f.output, s, t)
		},
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func connectorConfigCmd(f *connectorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "config NAME",
		Short: "Show a connector's configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg map[string]string
			if err := f.connectorCall(cmd.Context(), "GET", connectorPath("connectors", args[0], "config"), nil, &cfg); err != nil {
				return err
			}
			keys := make([]string, 0, len(cfg))
			for k := range cfg {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t := &table{header: []string{"KEY", "VALUE"}}
			for _, k := range keys {
				t.add(k, cfg[k])
			}
			return render(cmd.OutOrStdout(), f.output, cfg, t)
		},
	}
}

func connectorStateCmd(f *connectorFlags, verb, method, short string) *cobra.Command {
	var includeTasks, onlyFailed bool
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := connectorPath("connectors", args[0], verb)
			if verb == "restart" {
				p += fmt.Sprintf("?includeTasks=%t&onlyFailed=%t", includeTasks, onlyFailed)
			}
			if err := f.connectorCall(cmd.Context(), method, p, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s requested\n", args[0], verb)
			return nil
		},
	}
	if verb == "restart" {
		cmd.Flags().BoolVar(&includeTasks, "include-tasks", true, "restart the tasks too")
		cmd.Flags().BoolVar(&onlyFailed, "only-failed", false, "restart only what FAILED")
	}
	return cmd
}

func connectorDeleteCmd(f *connectorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connector",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.connectorCall(cmd.Context(), "DELETE", connectorPath("connectors", args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: deleted\n", args[0])
			return nil
		},
	}
}

func connectorOffsetsCmd(f *connectorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "offsets NAME",
		Short: "Show a connector's offsets (source offsets, or a sink's consumer group offsets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Offsets []struct {
					Partition map[string]any `json:"partition" yaml:"partition"`
					Offset    map[string]any `json:"offset" yaml:"offset"`
				} `json:"offsets" yaml:"offsets"`
			}
			if err := f.connectorCall(cmd.Context(), "GET", connectorPath("connectors", args[0], "offsets"), nil, &res); err != nil {
				return err
			}
			t := &table{header: []string{"PARTITION", "OFFSET"}}
			for _, o := range res.Offsets {
				p, _ := json.Marshal(o.Partition)
				v, _ := json.Marshal(o.Offset)
				t.add(string(p), string(v))
			}
			return render(cmd.OutOrStdout(), f.output, res, t)
		},
	}
}
