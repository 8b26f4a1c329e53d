package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultRegistry is where schema commands look for the registry unless told.
const defaultRegistry = "http://127.0.0.1:8081"

// schemaFlags are the flags every `sluice schema` subcommand shares.
type schemaFlags struct {
	registry string
	timeout  time.Duration
	output   string
}

// schemaClient talks to any Confluent-compatible registry.
type schemaClient struct {
	base string
	http *http.Client
}

// schemaAPIError is a registry's {"error_code":N,"message":"..."}.
type schemaAPIError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *schemaAPIError) Error() string {
	return fmt.Sprintf("registry: %s (error code %d)", e.Message, e.Code)
}

func (f *schemaFlags) client() (*schemaClient, error) {
	switch f.output {
	case "table", "json", "yaml":
	default:
		return nil, fmt.Errorf("unknown output format %q (want table, json or yaml)", f.output)
	}
	u, err := url.Parse(f.registry)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("--registry %q: want a URL such as %s", f.registry, defaultRegistry)
	}
	return &schemaClient{base: strings.TrimRight(f.registry, "/"), http: &http.Client{Timeout: f.timeout}}, nil
}

// call sends a request and decodes the JSON answer into out (unless nil).
func (c *schemaClient) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach schema registry at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &schemaAPIError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Code, e.Message = resp.StatusCode, strings.TrimSpace(string(data))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("registry answered %s %s with %q: %w", method, path, data, err)
	}
	return nil
}

func schemaPath(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// schemaInput is the schema text from --schema, --file or "-" (stdin).
type schemaInput struct {
	text       string
	file       string
	schemaType string
	refs       []string
	normalize  bool
}

func (in *schemaInput) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&in.text, "schema", "", "the schema text")
	fs.StringVarP(&in.file, "file", "f", "", "file holding the schema (- for stdin)")
	fs.StringVarP(&in.schemaType, "type", "t", "AVRO", "schema type: AVRO, JSON or PROTOBUF")
	fs.StringArrayVar(&in.refs, "ref", nil, "a reference as name=subject:version (repeatable)")
	fs.BoolVar(&in.normalize, "normalize", false, "normalize the schema before registering or comparing")
}

func (in *schemaInput) body(cmd *cobra.Command) (map[string]any, error) {
	text := in.text
	switch {
	case text != "" && in.file != "":
		return nil, errors.New("give the schema with --schema or --file, not both")
	case in.file == "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, err
		}
		text = string(b)
	case in.file != "":
		b, err := os.ReadFile(in.file)
		if err != nil {
			return nil, err
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("no schema: give --schema or --file")
	}
	body := map[string]any{"schema": text}
	if t := strings.ToUpper(in.schemaType); t != "" && t != "AVRO" {
		body["schemaType"] = t
	}
	var refs []map[string]any
	for _, r := range in.refs {
		name, sv, ok1 := strings.Cut(r, "=")
		subject, v, ok2 := strings.Cut(sv, ":")
		ver, err := strconv.Atoi(v)
		if !ok1 || !ok2 || err != nil || name == "" || subject == "" {
			return nil, fmt.Errorf("--ref %q: want name=subject:version", r)
		}
		refs = append(refs, map[string]any{"name": name, "subject": subject, "version": ver})
	}
	if len(refs) > 0 {
		body["references"] = refs
	}
	return body, nil
}

func (in *schemaInput) query() url.Values {
	q := url.Values{}
	if in.normalize {
		q.Set("normalize", "true")
	}
	return q
}

func init() {
	register(func() *cobra.Command {
		f := &schemaFlags{}
		cmd := &cobra.Command{
			Use:   "schema",
			Short: "Manage schemas in a Confluent-compatible Schema Registry",
		}
		def := defaultRegistry
		if v := os.Getenv("SLUICE_REGISTRY"); v != "" {
			def = v
		}
		pf := cmd.PersistentFlags()
		pf.StringVar(&f.registry, "registry", def, "Schema Registry URL (env SLUICE_REGISTRY)")
		pf.DurationVar(&f.timeout, "request-timeout", 30*time.Second, "how long to wait for the registry to answer")
		cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
		cmd.AddCommand(schemaRegisterCmd(f), schemaGetCmd(f), schemaListCmd(f), schemaDeleteCmd(f),
			schemaCheckCmd(f), schemaConfigCmd(f), schemaModeCmd(f))
		return cmd
	})
}

func schemaRegisterCmd(f *schemaFlags) *cobra.Command {
	var in schemaInput
	cmd := &cobra.Command{
		Use:   "register SUBJECT",
		Short: "Register a schema under a subject (prints its id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			body, err := in.body(cmd)
			if err != nil {
				return err
			}
			var res struct {
				ID int `json:"id" yaml:"id"`
			}
			if err := c.call(cmd.Context(), "POST", schemaPath("subjects", args[0], "versions"), in.query(), body, &res); err != nil {
				return err
			}
			// Registering answers the id only; show the version too.
			var v map[string]any
			if err := c.call(cmd.Context(), "POST", schemaPath("subjects", args[0]), in.query(), body, &v); err != nil {
				return err
			}
			out := map[string]any{"subject": args[0], "id": res.ID, "version": v["version"]}
			return schemaRender(cmd.OutOrStdout(), f.output, out, func() *table {
				t := &table{header: []string{"SUBJECT", "VERSION", "ID"}}
				t.add(args[0], fmt.Sprint(v["version"]), strconv.Itoa(res.ID))
				return t
			})
		},
	}
	in.add(cmd)
	return cmd
}

func schemaGetCmd(f *schemaFlags) *cobra.Command {
	var version string
	var id int
	var deleted bool
	cmd := &cobra.Command{
		Use:   "get [SUBJECT]",
		Short: "Show a subject's version (latest by default) or, with --id, a schema by id",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out map[string]any
			q := url.Values{}
			if deleted {
				q.Set("deleted", "true")
			}
			switch {
			case id > 0 && len(args) == 0:
				if err := c.call(cmd.Context(), "GET", schemaPath("schemas", "ids", strconv.Itoa(id)), nil, nil, &out); err != nil {
					return err
				}
				out["id"] = id
			case len(args) == 1 && id == 0:
				if err := c.call(cmd.Context(), "GET", schemaPath("subjects", args[0], "versions", version), q, nil, &out); err != nil {
					return err
				}
			default:
				return errors.New("give a SUBJECT (with --version) or --id")
			}
			if _, ok := out["schemaType"]; !ok {
				out["schemaType"] = "AVRO"
			}
			return schemaRender(cmd.OutOrStdout(), f.output, out, func() *table {
				t := &table{header: []string{"SUBJECT", "VERSION", "ID", "TYPE", "SCHEMA"}}
				t.add(orDash(str(out["subject"])), orDash(str(out["version"])), str(out["id"]), str(out["schemaType"]), str(out["schema"]))
				return t
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "latest", "version number or latest")
	cmd.Flags().IntVar(&id, "id", 0, "schema id")
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted versions")
	return cmd
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func schemaListCmd(f *schemaFlags) *cobra.Command {
	var prefix string
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list [SUBJECT]",
		Short: "List subjects or, given a subject, its versions",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if deleted {
				q.Set("deleted", "true")
			}
			if len(args) == 1 {
				var versions []int
				if err := c.call(cmd.Context(), "GET", schemaPath("subjects", args[0], "versions"), q, nil, &versions); err != nil {
					return err
				}
				return schemaRender(cmd.OutOrStdout(), f.output, versions, func() *table {
					t := &table{header: []string{"VERSION"}}
					for _, v := range versions {
						t.add(strconv.Itoa(v))
					}
					return t
				})
			}
			if prefix != "" {
				q.Set("subjectPrefix", prefix)
			}
			var all []map[string]any
			if err := c.call(cmd.Context(), "GET", "/schemas", q, nil, &all); err != nil {
				return err
			}
			// One line per subject: its latest version, id and type.
			type row struct {
				Subject  string `json:"subject" yaml:"subject"`
				Versions int    `json:"versions" yaml:"versions"`
				Latest   int    `json:"latestVersion" yaml:"latestVersion"`
				ID       int    `json:"id" yaml:"id"`
				Type     string `json:"schemaType" yaml:"schemaType"`
			}
			bySubject := map[string]*row{}
			for _, s := range all {
				name := str(s["subject"])
				r := bySubject[name]
				if r == nil {
					r = &row{Subject: name, Type: "AVRO"}
					bySubject[name] = r
				}
				r.Versions++
				if v := int(s["version"].(float64)); v > r.Latest {
					r.Latest, r.ID = v, int(s["id"].(float64))
					if t := str(s["schemaType"]); t != "" {
						r.Type = t
					}
				}
			}
			rows := []row{}
			for _, r := range bySubject {
				rows = append(rows, *r)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Subject < rows[j].Subject })
			return schemaRender(cmd.OutOrStdout(), f.output, rows, func() *table {
				t := &table{header: []string{"SUBJECT", "VERSIONS", "LATEST", "ID", "TYPE"}}
				for _, r := range rows {
					t.add(r.Subject, strconv.Itoa(r.Versions), strconv.Itoa(r.Latest), strconv.Itoa(r.ID), r.Type)
				}
				return t
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only subjects starting with this")
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted subjects and versions")
	return cmd
}

func schemaDeleteCmd(f *schemaFlags) *cobra.Command {
	var version string
	var permanent bool
	cmd := &cobra.Command{
		Use:   "delete SUBJECT",
		Short: "Soft-delete a subject or one version (--permanent after a soft delete removes it for good)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if permanent {
				q.Set("permanent", "true")
			}
			var deleted []int
			if version != "" {
				var v int
				if err := c.call(cmd.Context(), "DELETE", schemaPath("subjects", args[0], "versions", version), q, nil, &v); err != nil {
					return err
				}
				deleted = []int{v}
			} else if err := c.call(cmd.Context(), "DELETE", schemaPath("subjects", args[0]), q, nil, &deleted); err != nil {
				return err
			}
			out := map[string]any{"subject": args[0], "deletedVersions": deleted, "permanent": permanent}
			return schemaRender(cmd.OutOrStdout(), f.output, out, func() *table {
				t := &table{header: []string{"SUBJECT", "DELETED VERSIONS", "PERMANENT"}}
				t.add(args[0], strings.Trim(fmt.Sprint(deleted), "[]"), strconv.FormatBool(permanent))
				return t
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "delete only this version (a number or latest)")
	cmd.Flags().BoolVar(&permanent, "permanent", false, "hard delete (the subject or version must be soft-deleted first)")
	return cmd
}

// errIncompatible makes `schema check` exit non-zero, for CI pipelines.
var errIncompatible = errors.New("schema is not compatible")

func schemaCheckCmd(f *schemaFlags) *cobra.Command {
	var in schemaInput
	var version string
	cmd := &cobra.Command{
		Use:   "check SUBJECT",
		Short: "Check a schema's compatibility with a subject (exits 1 when incompatible)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			body, err := in.body(cmd)
			if err != nil {
				return err
			}
			q := in.query()
			q.Set("verbose", "true")
			path := schemaPath("compatibility", "subjects", args[0], "versions")
			if version != "" {
				path += schemaPath(version)
			}
			var res struct {
				IsCompatible bool     `json:"is_compatible" yaml:"is_compatible"`
				Messages     []string `json:"messages" yaml:"messages"`
			}
			if err := c.call(cmd.Context(), "POST", path, q, body, &res); err != nil {
				return err
			}
			err = schemaRender(cmd.OutOrStdout(), f.output, res, func() *table {
				t := &table{header: []string{"COMPATIBLE", "MESSAGE"}}
				if len(res.Messages) == 0 {
					t.add(strconv.FormatBool(res.IsCompatible), "-")
				}
				for _, m := range res.Messages {
					t.add(strconv.FormatBool(res.IsCompatible), m)
				}
				return t
			})
			if err == nil && !res.IsCompatible {
				err = errIncompatible
			}
			return err
		},
	}
	in.add(cmd)
	cmd.Flags().StringVar(&version, "version", "", "check against this version only (default: the versions the subject's level names)")
	return cmd
}

func schemaConfigCmd(f *schemaFlags) *cobra.Command {
	var set string
	var del, global bool
	cmd := &cobra.Command{
		Use:   "config [SUBJECT]",
		Short: "Show or set the compatibility level, globally or for a subject",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			path := "/config"
			if len(args) == 1 {
				path += schemaPath(args[0])
			}
			var out map[string]any
			switch {
			case set != "" && del:
				return errors.New("give --set or --delete, not both")
			case set != "":
				err = c.call(cmd.Context(), "PUT", path, nil, map[string]string{"compatibility": strings.ToUpper(set)}, &out)
			case del:
				err = c.call(cmd.Context(), "DELETE", path, nil, nil, &out)
			default:
				q := url.Values{}
				if !global {
					q.Set("defaultToGlobal", "true")
				}
				err = c.call(cmd.Context(), "GET", path, q, nil, &out)
			}
			if err != nil {
				return err
			}
			level := str(out["compatibilityLevel"])
			if level == "" {
				level = str(out["compatibility"])
			}
			res := map[string]any{"subject": orDash(strings.Join(args, "")), "compatibilityLevel": level}
			return schemaRender(cmd.OutOrStdout(), f.output, res, func() *table {
				t := &table{header: []string{"SUBJECT", "COMPATIBILITY"}}
				t.add(orDash(strings.Join(args, "")), level)
				return t
			})
		},
	}
	cmd.Flags().StringVar(&set, "set", "", "set the level: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE")
	cmd.Flags().BoolVar(&del, "delete", false, "remove the subject's own level (or reset the global one)")
	cmd.Flags().BoolVar(&global, "own", false, "show only the subject's own level (error when it has none)")
	return cmd
}

func schemaModeCmd(f *schemaFlags) *cobra.Command {
	var set string
	var del, force bool
	cmd := &cobra.Command{
		Use:   "mode [SUBJECT]",
		Short: "Show or set the mode (READWRITE, READONLY, READONLY_OVERRIDE, IMPORT), globally or for a subject",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			path := "/mode"
			if len(args) == 1 {
				path += schemaPath(args[0])
			}
			var out struct {
				Mode string `json:"mode" yaml:"mode"`
			}
			switch {
			case set != "" && del:
				return errors.New("give --set or --delete, not both")
			case set != "":
				q := url.Values{}
				if force {
					q.Set("force", "true")
				}
				err = c.call(cmd.Context(), "PUT", path, q, map[string]string{"mode": strings.ToUpper(set)}, &out)
			case del:
				err = c.call(cmd.Context(), "DELETE", path, nil, nil, &out)
			default:
				err = c.call(cmd.Context(), "GET", path, url.Values{"defaultToGlobal": {"true"}}, nil, &out)
			}
			if err != nil {
				return err
			}
			res := map[string]any{"subject": orDash(strings.Join(args, "")), "mode": out.Mode}
			return schemaRender(cmd.OutOrStdout(), f.output, res, func() *table {
				t := &table{header: []string{"SUBJECT", "MODE"}}
				t.add(orDash(strings.Join(args, "")), out.Mode)
				return t
			})
		},
	}
	cmd.Flags().StringVar(&set, "set", "", "set the mode")
	cmd.Flags().BoolVar(&del, "delete", false, "remove the subject's own mode (or reset the global one)")
	cmd.Flags().BoolVar(&force, "force", false, "allow IMPORT on a registry or subject that already holds schemas")
	return cmd
}

// schemaRender writes v as JSON or YAML, or the table tab builds. v is plain
// data decoded from the registry; YAML goes through JSON so both show the
// API's own field names.
func schemaRender(w io.Writer, format string, v any, tab func() *table) error {
	switch format {
	case outputJSON:
		return render(w, format, v)
	case outputYAML:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var plain any
		if err := json.Unmarshal(b, &plain); err != nil {
			return err
		}
		return render(w, format, plain)
	}
	return render(w, format, v, tab())
}
