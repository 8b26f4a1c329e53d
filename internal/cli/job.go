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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// jobAPIDefault is where `sluice job` finds the Sluice API unless told.
const jobAPIDefault = "http://127.0.0.1:8080"

// jobFlags are the flags every `sluice job` subcommand shares.
type jobFlags struct {
	api    string
	output string
}

// jobInfo mirrors streams.JobInfo; the CLI only speaks the API's JSON.
type jobInfo struct {
	Name        string    `json:"name" yaml:"name"`
	Status      string    `json:"status" yaml:"status"`
	Error       string    `json:"error,omitempty" yaml:"error,omitempty"`
	Version     int64     `json:"version" yaml:"version"`
	Updated     time.Time `json:"updated" yaml:"updated"`
	Spec        string    `json:"spec,omitempty" yaml:"spec,omitempty"`
	Steps       []jobStep `json:"steps,omitempty" yaml:"steps,omitempty"`
	Late        int64     `json:"late_dropped" yaml:"late_dropped"`
	DeadLetters int64     `json:"dead_letters" yaml:"dead_letters"`
	Lag         int64     `json:"lag" yaml:"lag"`
	StateSize   int64     `json:"state_size" yaml:"state_size"`
}

type jobStep struct {
	Step string `json:"step" yaml:"step"`
	In   int64  `json:"in" yaml:"in"`
	Out  int64  `json:"out" yaml:"out"`
}

type jobAPIError struct {
	Message string `json:"message"`
	Errors  []struct {
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

func init() {
	register(func() *cobra.Command {
		var f jobFlags
		cmd := &cobra.Command{
			Use:   "job",
			Short: "Manage stream jobs: apply, list, describe, pause, resume, delete",
		}
		def := jobAPIDefault
		if v := os.Getenv("SLUICE_API"); v != "" {
			def = v
		}
		cmd.PersistentFlags().StringVar(&f.api, "api", def, "Sluice API base URL (env SLUICE_API)")
		addOutputFlag(cmd, &f.output)
		cmd.AddCommand(jobApplyCmd(&f), jobListCmd(&f), jobDescribeCmd(&f),
			jobActionCmd(&f, "pause", "Pause a job on every instance"),
			jobActionCmd(&f, "resume", "Resume a paused job"),
			jobDeleteCmd(&f))
		return cmd
	})
}

func jobApplyCmd(f *jobFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f job.yaml",
		Short: "Create or update a job from a YAML (or JSON) file; - reads stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("apply needs -f FILE")
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			var ji jobInfo
			if err := jobCall(cmd.Context(), f, http.MethodPost, "/api/v1/jobs", data, &ji, file); err != nil {
				return err
			}
			return jobRender(cmd.OutOrStdout(), f.output, ji, false)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "job file (YAML or JSON); - for stdin")
	return cmd
}

func jobListCmd(f *jobFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(f.output); err != nil {
				return err
			}
			var jobs []jobInfo
			if err := jobCall(cmd.Context(), f, http.MethodGet, "/api/v1/jobs", nil, &jobs, ""); err != nil {
				return err
			}
			t := &table{header: []string{"NAME", "STATUS", "VERSION", "LAG", "UPDATED"}}
			for _, j := range jobs {
				t.add(j.Name, j.Status, strconv.FormatInt(j.Version, 10), strconv.FormatInt(j.Lag, 10), j.Updated.Format(time.RFC3339))
			}
			return render(cmd.OutOrStdout(), f.output, jobs, t)
		},
	}
}

func jobDescribeCmd(f *jobFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a job's status, lag, and records in and out per step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ji jobInfo
			if err := jobCall(cmd.Context(), f, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(args[0]), nil, &ji, ""); err != nil {
				return err
			}
			return jobRender(cmd.OutOrStdout(), f.output, ji, true)
		},
	}
}

func jobActionCmd(f *jobFlags, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ji jobInfo
			if err := jobCall(cmd.Context(), f, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(args[0])+"/"+action, nil, &ji, ""); err != nil {
				return err
			}
			return jobRender(cmd.OutOrStdout(), f.output, ji, false)
		},
	}
}

func jobDeleteCmd(f *jobFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a job on every instance",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := jobCall(cmd.Context(), f, http.MethodDelete, "/api/v1/jobs/"+url.PathEscape(args[0]), nil, nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s deleted\n", args[0])
			return nil
		},
	}
}

func jobRender(w io.Writer, format string, ji jobInfo, full bool) error {
	if err := checkOutput(format); err != nil {
		return err
	}
	t := &table{header: []string{"NAME", "STATUS", "VERSION", "LAG", "LATE", "DEAD-LETTERS", "STATE"}}
	t.add(ji.Name, ji.Status, strconv.FormatInt(ji.Version, 10), strconv.FormatInt(ji.Lag, 10),
		strconv.FormatInt(ji.Late, 10), strconv.FormatInt(ji.DeadLetters, 10), strconv.FormatInt(ji.StateSize, 10))
	tables := []*table{t}
	if ji.Error != "" {
		tables = append(tables, &table{header: []string{"ERROR"}, rows: [][]string{{ji.Error}}})
	}
	if full && len(ji.Steps) > 0 {
		st := &table{header: []string{"STEP", "IN", "OUT"}}
		for _, s := range ji.Steps {
			st.add(s.Step, strconv.FormatInt(s.In, 10), strconv.FormatInt(s.Out, 10))
		}
		tables = append(tables, st)
	}
	return render(w, format, ji, tables...)
}

// jobCall does one API request and decodes a JSON answer into out. A
// validation failure becomes one error listing file:line:col problems.
func jobCall(ctx context.Context, f *jobFlags, method, path string, body []byte, out any, file string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base := strings.TrimRight(f.api, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Sluice API at %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var ae jobAPIError
		if json.Unmarshal(data, &ae) != nil || ae.Message == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		if len(ae.Errors) == 0 {
			return errors.New(ae.Message)
		}
		if file == "" || file == "-" {
			file = "job"
		}
		lines := make([]string, 0, len(ae.Errors))
		for _, e := range ae.Errors {
			loc := file
			if e.Line > 0 {
				loc = fmt.Sprintf("%s:%d:%d", file, e.Line, e.Column)
			}
			if e.Path != "" {
				loc += ": " + e.Path
			}
			lines = append(lines, loc+": "+e.Message)
		}
		return fmt.Errorf("%s: %s", ae.Message, strings.Join(lines, "; "))
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}
