package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// triggerFlags are the flags every `sluice trigger` subcommand shares.
type triggerFlags struct {
	api     string
	timeout time.Duration
	output  string
}

// triggerSpec mirrors triggers.Trigger: the CLI only speaks the API's JSON.
type triggerSpec = map[string]any

func init() {
	register(func() *cobra.Command {
		f := &triggerFlags{}
		cmd := &cobra.Command{
			Use:   "trigger",
			Short: "Manage triggers: deliver topics' records to HTTP endpoints as Lambda Kafka events",
		}
		def := jobAPIDefault
		if v := os.Getenv("SLUICE_API"); v != "" {
			def = v
		}
		pf := cmd.PersistentFlags()
		pf.StringVar(&f.api, "api", def, "Sluice API base URL (env SLUICE_API)")
		pf.DurationVar(&f.timeout, "request-timeout", 2*time.Minute, "how long to wait for the API to answer")
		addOutputFlag(cmd, &f.output)
		cmd.AddCommand(triggerWriteCmd(f, "create"), triggerListCmd(f), triggerGetCmd(f), triggerWriteCmd(f, "update"),
			triggerDeleteCmd(f), triggerStateCmd(f, "enable"), triggerStateCmd(f, "disable"))
		return cmd
	})
}

// call sends a request to the trigger API and decodes the answer.
func (f *triggerFlags) call(ctx context.Context, method, path string, body, out any) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	u, err := url.Parse(f.api)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--api %q: want a URL such as %s", f.api, jobAPIDefault)
	}
	status, data, err := restCall(ctx, "the Sluice API", f.api, method, path, body, f.timeout)
	if err != nil {
		return err
	}
	if status >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("trigger API: %s (HTTP %d)", strings.Join(strings.Fields(e.Message), " "), status)
	}
	return decodeAnswer(data, out)
}

func triggerPath(name string, rest ...string) string {
	p := "/api/v1/triggers/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// triggerReadFile reads a trigger spec from JSON or YAML.
func triggerReadFile(cmd *cobra.Command, path string) (triggerSpec, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	spec := triggerSpec{}
	if err := json.Unmarshal(data, &spec); err != nil {
		if yerr := yaml.Unmarshal(data, &spec); yerr != nil {
			return nil, fmt.Errorf("%s: not a JSON or YAML trigger: %v", path, yerr)
		}
	}
	return spec, nil
}

// triggerWriteCmd is create (POST) or update (PUT): a spec from -f, with
// the common fields also settable by flag.
func triggerWriteCmd(f *triggerFlags, verb string) *cobra.Command {
	var file, urlFlag, topics, secret, destination, group string
	var batch, retries int
	var window float64
	var bisect, disabled bool
	cmd := &cobra.Command{
		Use:   verb + " NAME [-f trigger.json] [--url URL --topics a,b ...]",
		Short: map[string]string{"create": "Create a trigger", "update": "Replace a trigger's settings (the secret is kept unless given)"}[verb],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := triggerSpec{}
			if file != "" {
				var err error
				if spec, err = triggerReadFile(cmd, file); err != nil {
					return err
				}
			} else if verb == "update" {
				// Start from the current settings so flags change only themselves.
				if err := f.call(cmd.Context(), "GET", triggerPath(args[0]), nil, &spec); err != nil {
					return err
				}
				for _, k := range []string{"eventSourceArn", "connector", "state", "stateTransitionReason", "lag", "secret"} {
					delete(spec, k)
				}
			}
			spec["name"] = args[0]
			fl := cmd.Flags()
			set := func(name, key string, v any) {
				if fl.Changed(name) {
					spec[key] = v
				}
			}
			set("url", "url", urlFlag)
			if fl.Changed("topics") {
				spec["topics"] = strings.Split(topics, ",")
			}
			set("batch-size", "batchSize", batch)
			set("window", "maximumBatchingWindowInSeconds", window)
			set("max-retries", "maximumRetryAttempts", retries)
			set("bisect", "bisectBatchOnFunctionError", bisect)
			set("secret", "secret", secret)
			set("consumer-group", "consumerGroupId", group)
			if fl.Changed("disabled") {
				spec["enabled"] = !disabled
			}
			if fl.Changed("on-failure") {
				spec["destinationConfig"] = map[string]any{"onFailure": map[string]any{"destination": destination}}
			}
			var out triggerSpec
			var err error
			if verb == "create" {
				err = f.call(cmd.Context(), "POST", "/api/v1/triggers", spec, &out)
			} else {
				err = f.call(cmd.Context(), "PUT", triggerPath(args[0]), spec, &out)
			}
			if err != nil {
				return err
			}
			t := &table{header: []string{"NAME", "URL", "TOPICS", "ENABLED", "SECRET"}}
			t.add(trStr(out["name"]), trStr(out["url"]), trStrs(out["topics"]), trStr(out["enabled"]), trStr(out["secret"]))
			return render(cmd.OutOrStdout(), f.output, out, t)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "trigger spec, JSON or YAML (- for stdin); flags override its fields")
	fl.StringVar(&urlFlag, "url", "", "endpoint URL")
	fl.StringVar(&topics, "topics", "", "comma-separated topics")
	fl.IntVar(&batch, "batch-size", 100, "most records per request")
	fl.Float64Var(&window, "window", 0.5, "maximumBatchingWindowInSeconds")
	fl.IntVar(&retries, "max-retries", -1, "maximumRetryAttempts (-1: forever)")
	fl.BoolVar(&bisect, "bisect", false, "bisectBatchOnFunctionError")
	fl.StringVar(&secret, "secret", "", "whsec_ signing secret (generated at create when absent)")
	fl.StringVar(&destination, "on-failure", "", "on-failure topic")
	fl.StringVar(&group, "consumer-group", "", "consumerGroupId (must be connect-trigger-NAME)")
	fl.BoolVar(&disabled, "disabled", false, "create or leave it disabled")
	return cmd
}

func trStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		return orDash(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func trStrs(v any) string {
	xs, _ := v.([]any)
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = trStr(x)
	}
	return strings.Join(parts, ",")
}

func triggerListCmd(f *triggerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List triggers with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Triggers []triggerSpec `json:"triggers" yaml:"triggers"`
			}
			if err := f.call(cmd.Context(), "GET", "/api/v1/triggers", nil, &res); err != nil {
				return err
			}
			t := &table{header: []string{"NAME", "STATE", "TOPICS", "URL", "BATCH"}}
			for _, tr := range res.Triggers {
				t.add(trStr(tr["name"]), trStr(tr["state"]), trStrs(tr["topics"]), trStr(tr["url"]), trStr(tr["batchSize"]))
			}
			return render(cmd.OutOrStdout(), f.output, res.Triggers, t)
		},
	}
}

func triggerGetCmd(f *triggerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a trigger's settings, state and lag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var tr triggerSpec
			if err := f.call(cmd.Context(), "GET", triggerPath(args[0]), nil, &tr); err != nil {
				return err
			}
			t := &table{header: []string{"FIELD", "VALUE"}}
			for _, k := range []string{"name", "state", "stateTransitionReason", "url", "topics", "consumerGroupId", "batchSize",
				"maximumBatchingWindowInSeconds", "startingPosition", "maximumRetryAttempts", "maximumRecordAgeInSeconds",
				"bisectBatchOnFunctionError", "destinationConfig", "filterCriteria", "timeout", "concurrency", "lag", "connector"} {
				v, ok := tr[k]
				if !ok {
					continue
				}
				switch x := v.(type) {
				case []any:
					t.add(k, trStrs(x))
				case map[string]any:
					b, _ := json.Marshal(x)
					t.add(k, string(b))
				default:
					t.add(k, trStr(x))
				}
			}
			return render(cmd.OutOrStdout(), f.output, tr, t)
		},
	}
}

func triggerDeleteCmd(f *triggerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a trigger (its connector; committed offsets stay in its group)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.call(cmd.Context(), "DELETE", triggerPath(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: deleted\n", args[0])
			return nil
		},
	}
}

func triggerStateCmd(f *triggerFlags, verb string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: map[string]string{"enable": "Enable a trigger: delivery resumes from its committed offsets", "disable": "Disable a trigger: its tasks stop, offsets are kept"}[verb],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("give a trigger name")
			}
			if err := f.call(cmd.Context(), "POST", triggerPath(args[0], verb), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %sd\n", args[0], verb)
			return nil
		},
	}
}

// triggerRoutes serves the trigger API under /api/v1/triggers and the rest
// of the Sluice API from rest.
func triggerRoutes(trig, rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/triggers", trig)
	mux.Handle("/api/v1/triggers/", trig)
	mux.Handle("/", rest)
	return mux
}
