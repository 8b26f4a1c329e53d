// Package triggers is the trigger API of the Sluice API (:8080): Lambda-style
// event source mappings that deliver topics' records to HTTP endpoints. It
// stores nothing itself: each trigger is a webhook sink connector
// (connectors/webhook) on the Connect runtime, created and read through the
// Connect REST API, so triggers run in the worker pool and scale with it.
package triggers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/connectors/webhook"
)

// Config configures the API.
type Config struct {
	// ConnectURL is a Connect worker's REST API (any worker of the cluster).
	ConnectURL string
	// Bootstrap reaches Kafka: topic checks, starting positions, lag.
	Bootstrap  []string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// API serves /api/v1/triggers.
type API struct {
	connect string
	http    *http.Client
	kcl     *kgo.Client
	adm     *kadm.Client
	log     *slog.Logger
	mux     *http.ServeMux
}

// New builds the API. It registers the webhook connector's delivery
// metrics and a per-trigger lag gauge with cfg.Registerer.
func New(cfg Config) (*API, error) {
	u, err := url.Parse(cfg.ConnectURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("triggers: ConnectURL %q is not a URL", cfg.ConnectURL)
	}
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("triggers: no bootstrap servers")
	}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{connect: strings.TrimRight(cfg.ConnectURL, "/"), http: &http.Client{Timeout: 90 * time.Second},
		kcl: kcl, adm: kadm.NewClient(kcl), log: log, mux: http.NewServeMux()}
	if cfg.Registerer != nil {
		if err := webhook.RegisterMetrics(cfg.Registerer); err != nil {
			kcl.Close()
			return nil, err
		}
		if err := cfg.Registerer.Register(&lagCollector{a}); err != nil {
			kcl.Close()
			return nil, err
		}
	}
	a.routes()
	return a, nil
}

// Close releases the Kafka client.
func (a *API) Close() { a.kcl.Close() }

// Handler serves /api/v1/triggers and /api/v1/triggers/...
func (a *API) Handler() http.Handler { return a.mux }

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("GET /api/v1/triggers", a.list)
	m.HandleFunc("POST /api/v1/triggers", a.create)
	m.HandleFunc("GET /api/v1/triggers/{name}", a.get)
	m.HandleFunc("PUT /api/v1/triggers/{name}", a.update)
	m.HandleFunc("DELETE /api/v1/triggers/{name}", a.delete)
	m.HandleFunc("POST /api/v1/triggers/{name}/enable", a.state("resume"))
	m.HandleFunc("POST /api/v1/triggers/{name}/disable", a.state("stop"))
	m.HandleFunc("/api/v1/triggers/", func(w http.ResponseWriter, _ *http.Request) {
		writeErr(w, http.StatusNotFound, "no such trigger endpoint")
	})
}

// apiError is the answer to a failed request, as Connect's.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Code: status, Message: msg})
}

// fail maps errors: input errors 400, Connect's own codes as they came,
// an unreachable Connect 502.
func (a *API) fail(w http.ResponseWriter, err error) {
	var br *badRequest
	var ae *apiError
	switch {
	case errors.As(err, &br):
		writeErr(w, http.StatusBadRequest, br.msg)
	case errors.As(err, &ae):
		writeErr(w, ae.Code, ae.Message)
	default:
		writeErr(w, http.StatusBadGateway, err.Error())
	}
}

// call sends one request to Connect and decodes its answer.
func (a *API) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.connect+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach Connect at %s: %w", a.connect, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		e.Code = resp.StatusCode
		if e.Code >= 500 {
			e.Message = "Connect: " + e.Message
		}
		return e
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

func connPath(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func decodeTrigger(r *http.Request) (*Trigger, error) {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	var t Trigger
	if err := dec.Decode(&t); err != nil {
		return nil, bad("request body is not a trigger: %v", err)
	}
	return &t, nil
}

// checkTopics answers 400 for source or destination topics the cluster
// does not have.
func (a *API) checkTopics(ctx context.Context, t *Trigger) error {
	want := append([]string(nil), t.Topics...)
	if f := t.failureTopic(); f != "" {
		want = append(want, f)
	}
	td, err := a.adm.ListTopics(ctx, want...)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	var missing []string
	for _, n := range want {
		if d, ok := td[n]; !ok || d.Err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return bad("unknown topic(s): %s (create them first)", strings.Join(missing, ", "))
	}
	return nil
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

type connectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

type connectorStatus struct {
	Connector struct {
		State string `json:"state"`
		Trace string `json:"trace"`
	} `json:"connector"`
	Tasks []struct {
		State string `json:"state"`
		Trace string `json:"trace"`
	} `json:"tasks"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	t, err := decodeTrigger(r)
	if err == nil {
		err = t.validate()
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	ctx := r.Context()
	if err := a.checkTopics(ctx, t); err != nil {
		a.fail(w, err)
		return
	}
	if t.Secret == nil {
		t.Secret = ptr(newSecret())
	}
	cfg := t.connectorConfig()
	name := ConnectorName(t.Name)
	seek := t.StartingPosition != TrimHorizon
	initial := "RUNNING"
	if seek || !*t.Enabled {
		initial = "STOPPED"
	}
	if err := a.call(ctx, "POST", "/connectors", map[string]any{"name": name, "config": cfg, "initial_state": initial}, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == http.StatusConflict && strings.Contains(ae.Message, "exists") {
			err = &apiError{Code: http.StatusConflict, Message: fmt.Sprintf("trigger %s already exists", t.Name)}
		}
		a.fail(w, err)
		return
	}
	if seek {
		if err := a.seek(ctx, t); err != nil {
			// Leave nothing half made: the trigger would start elsewhere.
			_ = a.call(context.WithoutCancel(ctx), "DELETE", connPath("connectors", name), nil, nil)
			a.fail(w, err)
			return
		}
		if *t.Enabled {
			if err := a.call(ctx, "PUT", connPath("connectors", name, "resume"), nil, nil); err != nil {
				a.fail(w, err)
				return
			}
		}
	}
	out := fromConnector(t.Name, cfg)
	out.Secret = t.Secret // shown once, at creation
	out.Enabled = t.Enabled
	writeJSON(w, http.StatusCreated, out)
}

// seek sets the new, stopped connector's offsets for LATEST or
// AT_TIMESTAMP (KIP-875's PATCH /connectors/{c}/offsets).
func (a *API) seek(ctx context.Context, t *Trigger) error {
	var lo kadm.ListedOffsets
	var err error
	if t.StartingPosition == Latest {
		lo, err = a.adm.ListEndOffsets(ctx, t.Topics...)
	} else {
		lo, err = a.adm.ListOffsetsAfterMilli(ctx, int64(*t.StartingPositionTimestamp*1000), t.Topics...)
	}
	if err != nil {
		return fmt.Errorf("listing offsets for %s: %w", t.StartingPosition, err)
	}
	type entry struct {
		Partition map[string]any `json:"partition"`
		Offset    map[string]any `json:"offset"`
	}
	var offs []entry
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			offs = append(offs, entry{map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition}, map[string]any{"kafka_offset": o.Offset}})
		}
	})
	if len(offs) == 0 {
		return nil
	}
	// The STOPPED state reaches the workers through connect-configs: retry
	// while Connect still sees the connector as running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := a.call(ctx, "PATCH", connPath("connectors", ConnectorName(t.Name), "offsets"), map[string]any{"offsets": offs}, nil)
		var ae *apiError
		if err == nil || !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// load reads one trigger with its state.
func (a *API) load(ctx context.Context, name string) (*Trigger, map[string]string, error) {
	var info connectorInfo
	if err := a.call(ctx, "GET", connPath("connectors", ConnectorName(name)), nil, &info); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
			return nil, nil, &apiError{Code: http.StatusNotFound, Message: fmt.Sprintf("trigger %s not found", name)}
		}
		return nil, nil, err
	}
	if !isWebhook(info.Config) {
		return nil, nil, &apiError{Code: http.StatusNotFound, Message: fmt.Sprintf("trigger %s not found (connector %s is not a webhook sink)", name, info.Name)}
	}
	t := fromConnector(name, info.Config)
	var st connectorStatus
	if err := a.call(ctx, "GET", connPath("connectors", ConnectorName(name), "status"), nil, &st); err == nil {
		t.setState(st)
	}
	return t, info.Config, nil
}

func isWebhook(cfg map[string]string) bool {
	p, err := plugin.Lookup(cfg["connector.class"])
	return err == nil && p.Class == webhook.Class
}

// setState maps Connect's states to Lambda's event source mapping states.
func (t *Trigger) setState(st connectorStatus) {
	enabled := true
	switch st.Connector.State {
	case "RUNNING":
		t.State = "Enabled"
	case "PAUSED", "STOPPED":
		t.State, enabled = "Disabled", false
	case "FAILED":
		t.State, t.StateTransitionReason = "Failed", firstLine(st.Connector.Trace)
	default:
		t.State = "Enabling"
	}
	for _, ts := range st.Tasks {
		if ts.State == "FAILED" {
			t.State, t.StateTransitionReason = "Failed", firstLine(ts.Trace)
		}
	}
	t.Enabled = &enabled
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	t, _, err := a.load(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, err)
		return
	}
	if lags, err := a.lags(r.Context(), []string{t.Name}); err == nil {
		if l, ok := lags[t.Name]; ok {
			t.Lag = &l
		}
	}
	writeJSON(w, http.StatusOK, t)
}

// triggers lists the triggers (connectors named trigger-* of the webhook
// class) with their states.
func (a *API) triggers(ctx context.Context) ([]*Trigger, error) {
	var all map[string]struct {
		Info   connectorInfo   `json:"info"`
		Status connectorStatus `json:"status"`
	}
	if err := a.call(ctx, "GET", "/connectors?expand=info&expand=status", nil, &all); err != nil {
		return nil, err
	}
	out := []*Trigger{}
	for cname, c := range all {
		name, ok := strings.CutPrefix(cname, ConnectorPrefix)
		if !ok || !isWebhook(c.Info.Config) {
			continue
		}
		t := fromConnector(name, c.Info.Config)
		t.setState(c.Status)
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	ts, err := a.triggers(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"triggers": ts})
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	t, err := decodeTrigger(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if t.Name == "" {
		t.Name = name
	}
	if t.Name != name {
		a.fail(w, bad("name %q in the body does not match %q in the URL", t.Name, name))
		return
	}
	ctx := r.Context()
	old, oldCfg, err := a.load(ctx, name)
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := t.validate(); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.checkTopics(ctx, t); err != nil {
		a.fail(w, err)
		return
	}
	if t.Secret == nil || *t.Secret == MaskedSecret {
		t.Secret = ptr(oldCfg[webhook.KeySecret]) // write-only: kept unless given
	}
	// The starting position applies at creation only.
	t.StartingPosition, t.StartingPositionTimestamp = old.StartingPosition, old.StartingPositionTimestamp
	cfg := t.connectorConfig()
	if err := a.call(ctx, "PUT", connPath("connectors", ConnectorName(name), "config"), cfg, nil); err != nil {
		a.fail(w, err)
		return
	}
	if *t.Enabled != *old.Enabled {
		verb := "resume"
		if !*t.Enabled {
			verb = "stop"
		}
		if err := a.call(ctx, "PUT", connPath("connectors", ConnectorName(name), verb), nil, nil); err != nil {
			a.fail(w, err)
			return
		}
	}
	out := fromConnector(name, cfg)
	out.Enabled = t.Enabled
	writeJSON(w, http.StatusOK, out)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, _, err := a.load(r.Context(), name); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.call(r.Context(), "DELETE", connPath("connectors", ConnectorName(name)), nil, nil); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) state(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		t, _, err := a.load(r.Context(), name)
		if err != nil {
			a.fail(w, err)
			return
		}
		if err := a.call(r.Context(), "PUT", connPath("connectors", ConnectorName(name), verb), nil, nil); err != nil {
			a.fail(w, err)
			return
		}
		t.Enabled = ptr(verb == "resume")
		t.State = map[bool]string{true: "Enabling", false: "Disabling"}[*t.Enabled]
		writeJSON(w, http.StatusOK, t)
	}
}

// lags sums, per trigger, the records not yet committed by its group.
func (a *API) lags(ctx context.Context, names []string) (map[string]int64, error) {
	groups := make([]string, len(names))
	for i, n := range names {
		groups[i] = GroupID(n)
	}
	dl, err := a.adm.Lag(ctx, groups...)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for i, g := range groups {
		l, ok := dl[g]
		if !ok || l.Error() != nil {
			continue
		}
		out[names[i]] = l.Lag.Total()
	}
	return out, nil
}

// lagCollector reports sluice_trigger_lag at scrape time.
type lagCollector struct{ a *API }

var lagDesc = prometheus.NewDesc("sluice_trigger_lag", "Records of the trigger's topics not yet delivered and committed.", []string{"trigger"}, nil)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := c.a.triggers(ctx)
	if err != nil || len(ts) == 0 {
		return
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	lags, err := c.a.lags(ctx, names)
	if err != nil {
		return
	}
	for n, l := range lags {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(l), n)
	}
}
