// Package webhook is a sink connector that delivers Kafka records to an HTTP
// endpoint in batches, as the AWS Lambda Kafka event (so existing Lambda
// handlers work unchanged), signed with Standard Webhooks, one batch in
// flight per partition so order holds per partition, with retries, bisection,
// partial-batch replies and an on-failure topic. It is what Sluice triggers
// (package triggers) run on: a trigger is one connector of this class.
package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Class is the connector class name.
const (
	Class   = "io.sluice.connect.webhook.WebhookSinkConnector"
	version = "1.0.0"
)

// Config keys.
const (
	KeyURL            = "webhook.url"
	KeyBatchSize      = "batch.size"
	KeyWindow         = "batch.window.seconds"
	KeyFilters        = "filters"
	KeyMaxRetries     = "max.retry.attempts"
	KeyMaxAge         = "max.record.age.seconds"
	KeyBisect         = "bisect.on.error"
	KeyOnFailure      = "on.failure.topic"
	KeyHeaders        = "webhook.headers"
	KeySecret         = "webhook.secret"
	KeyTimeout        = "webhook.timeout.seconds"
	KeyConcurrency    = "concurrency"
	KeyBackoff        = "retry.backoff.ms"
	KeyBackoffMax     = "retry.backoff.max.ms"
	KeyEventSource    = "event.source"
	KeyTrigger        = "trigger.name"
	KeyBuffer         = "buffer.max.records"
	KeyStartPosition  = "trigger.starting.position"
	KeyStartTimestamp = "trigger.starting.position.timestamp"
)

// MaxBatchSize is Lambda's limit for Kafka event sources.
const MaxBatchSize = 10000

func init() {
	plugin.Register(plugin.Plugin{Class: Class, Aliases: []string{"io.sluice.connect.webhook.WebhookSink"}, Kind: plugin.Sink, Version: version,
		New: func() plugin.Connector { return &connector{} }})
}

// Def is the connector's configuration definition.
var Def = plugin.ConfigDef{
	{Name: KeyURL, Type: plugin.TypeString, Required: true, Validator: validURL, Importance: plugin.High, Documentation: "The http:// or https:// URL batches are POSTed to."},
	{Name: KeyBatchSize, Type: plugin.TypeInt, Default: "100", Validator: between(1, MaxBatchSize), Importance: plugin.High, Documentation: "Most records per request (Lambda's BatchSize, 1..10000)."},
	{Name: KeyWindow, Type: plugin.TypeDouble, Default: "0.5", Validator: between(0, 300), Importance: plugin.Medium, Documentation: "Seconds to gather records before a short batch is sent (Lambda's MaximumBatchingWindowInSeconds); 0 sends at once."},
	{Name: KeyFilters, Type: plugin.TypeString, Default: "", Validator: validFilters, Importance: plugin.Medium, Documentation: `JSON array of filters, each {"pattern":"<Lambda filter pattern>"} or {"expression":"<expr-lang bool>"}; a record is delivered when any matches (all when empty).`},
	{Name: KeyMaxRetries, Type: plugin.TypeInt, Default: "-1", Validator: between(-1, 10000), Importance: plugin.Medium, Documentation: "Retries of a failed batch before it is given up (-1: forever; with an on-failure topic Lambda's cap of 10 applies)."},
	{Name: KeyMaxAge, Type: plugin.TypeLong, Default: "-1", Validator: ageValid, Importance: plugin.Medium, Documentation: "Records older than this many seconds are not delivered but given up (-1: no limit)."},
	{Name: KeyBisect, Type: plugin.TypeBoolean, Default: "false", Importance: plugin.Medium, Documentation: "Split a failing batch in two and retry each half."},
	{Name: KeyOnFailure, Type: plugin.TypeString, Default: "", Importance: plugin.Medium, Documentation: "Topic given-up batches are written to, as Lambda's failure record; empty: they are dropped (logged and counted)."},
	{Name: KeyHeaders, Type: plugin.TypeString, Default: "", Validator: validHeaders, Importance: plugin.Low, Documentation: `JSON object of extra HTTP headers, {"Authorization":"Bearer ..."}.`},
	{Name: KeySecret, Type: plugin.TypePassword, Default: "", Validator: validSecret, Importance: plugin.High, Documentation: "Standard Webhooks signing secret, whsec_<base64>; empty: requests are not signed."},
	{Name: KeyTimeout, Type: plugin.TypeDouble, Default: "30", Validator: between(0.001, 900), Importance: plugin.Medium, Documentation: "Seconds a request may take; a timeout is retried."},
	{Name: KeyConcurrency, Type: plugin.TypeInt, Default: "10", Validator: between(1, 1000), Importance: plugin.Medium, Documentation: "Most batches in flight at once per task (never more than one per partition)."},
	{Name: KeyBackoff, Type: plugin.TypeLong, Default: "500", Validator: between(1, 3600000), Importance: plugin.Low, Documentation: "First retry delay in ms; doubles per attempt, with jitter."},
	{Name: KeyBackoffMax, Type: plugin.TypeLong, Default: "60000", Validator: between(1, 3600000), Importance: plugin.Low, Documentation: "Longest retry delay in ms."},
	{Name: KeyEventSource, Type: plugin.TypeString, Default: "SelfManagedKafka", Validator: plugin.OneOf("SelfManagedKafka", "aws:kafka"), Importance: plugin.Low, Documentation: "eventSource of the Lambda event."},
	{Name: KeyTrigger, Type: plugin.TypeString, Default: "", Importance: plugin.Low, Documentation: "Trigger name (metrics label, eventSourceArn); defaults to the connector name."},
	{Name: KeyBuffer, Type: plugin.TypeInt, Default: "0", Validator: between(0, 1000000), Importance: plugin.Low, Documentation: "Records buffered per partition before Put blocks (0: max(2 x batch.size, 1000))."},
	{Name: KeyStartPosition, Type: plugin.TypeString, Default: "TRIM_HORIZON", Validator: plugin.OneOf("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"), Importance: plugin.Low, Documentation: "Where a new trigger starts; applied by the trigger API when it creates the connector (as offsets)."},
	{Name: KeyStartTimestamp, Type: plugin.TypeString, Default: "", Importance: plugin.Low, Documentation: "RFC 3339 time for AT_TIMESTAMP; applied by the trigger API."},
}

func between(lo, hi float64) plugin.Validator {
	return func(name, v string) error {
		var f float64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &f); err != nil || f < lo || f > hi {
			return fmt.Errorf("Invalid value %s for configuration %s: Value must be between %v and %v", v, name, lo, hi)
		}
		return nil
	}
}

func ageValid(name, v string) error {
	var n int64
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err != nil || (n != -1 && n < 1) || n > 604800 {
		return fmt.Errorf("Invalid value %s for configuration %s: must be -1 or 1..604800", v, name)
	}
	return nil
}

func validURL(name, v string) error {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("Invalid value %s for configuration %s: must be an absolute http:// or https:// URL", v, name)
	}
	return nil
}

func validFilters(name, v string) error {
	if _, err := ParseFilters(v); err != nil {
		return fmt.Errorf("Invalid value %s for configuration %s: %v", v, name, err)
	}
	return nil
}

func validHeaders(name, v string) error {
	if _, err := parseHeaders(v); err != nil {
		return fmt.Errorf("Invalid value for configuration %s: %v", name, err)
	}
	return nil
}

func validSecret(name, v string) error {
	if _, err := ParseSecret(v); err != nil {
		return fmt.Errorf("Invalid value for configuration %s: %v", name, err)
	}
	return nil
}

func parseHeaders(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return nil, fmt.Errorf("want a JSON object of strings: %v", err)
	}
	for k := range h {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return nil, fmt.Errorf("bad header name %q", k)
		}
	}
	return h, nil
}

// ParseSecret decodes a Standard Webhooks secret: "whsec_" and base64 of
// the key bytes. An empty secret is valid and means no signing.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("the secret must be whsec_ followed by base64 of at least 16 bytes")
	}
	return key, nil
}

// settings is a parsed configuration.
type settings struct {
	url                 string
	trigger             string
	batchSize           int
	window              time.Duration
	filters             *Filters
	maxRetries          int // -1: forever
	maxAge              time.Duration
	bisect              bool
	onFailure           string
	headers             map[string]string
	secret              []byte
	timeout             time.Duration
	concurrency         int
	backoff, backoffMax time.Duration
	eventSource         string
	buffer              int
}

func parseSettings(cfg map[string]string) (*settings, error) {
	p, err := Def.Parse(cfg)
	if err != nil {
		return nil, err
	}
	s := &settings{
		url:         p.String(KeyURL),
		trigger:     p.String(KeyTrigger),
		batchSize:   int(p.Int(KeyBatchSize)),
		window:      time.Duration(p.Float(KeyWindow) * float64(time.Second)),
		maxRetries:  int(p.Int(KeyMaxRetries)),
		bisect:      p.Bool(KeyBisect),
		onFailure:   p.String(KeyOnFailure),
		timeout:     time.Duration(p.Float(KeyTimeout) * float64(time.Second)),
		concurrency: int(p.Int(KeyConcurrency)),
		backoff:     time.Duration(p.Int(KeyBackoff)) * time.Millisecond,
		backoffMax:  time.Duration(p.Int(KeyBackoffMax)) * time.Millisecond,
		eventSource: p.String(KeyEventSource),
		buffer:      int(p.Int(KeyBuffer)),
	}
	if s.trigger == "" {
		s.trigger = strings.TrimPrefix(cfg["name"], "trigger-")
	}
	if age := p.Int(KeyMaxAge); age > 0 {
		s.maxAge = time.Duration(age) * time.Second
	}
	if s.maxRetries < 0 && s.onFailure != "" {
		s.maxRetries = 10 // Lambda caps infinite retries when a destination is set
	}
	if s.buffer == 0 {
		s.buffer = max(2*s.batchSize, 1000)
	}
	if s.filters, err = ParseFilters(p.String(KeyFilters)); err != nil {
		return nil, err
	}
	if s.headers, err = parseHeaders(p.String(KeyHeaders)); err != nil {
		return nil, err
	}
	if s.secret, err = ParseSecret(p.String(KeySecret)); err != nil {
		return nil, err
	}
	for _, t := range plugin.SplitList(cfg["topics"]) {
		if t == s.onFailure {
			return nil, fmt.Errorf("%s %q is also a source topic: that would loop", KeyOnFailure, t)
		}
	}
	return s, nil
}

type connector struct{ cfg map[string]string }

func (c *connector) ConfigDef() plugin.ConfigDef { return Def }

func (c *connector) Start(cfg map[string]string) error {
	if _, err := parseSettings(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs gives every task the connector's config; the consumer group
// spreads partitions over them.
func (c *connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, maxTasks)
	for i := range out {
		m := make(map[string]string, len(c.cfg))
		for k, v := range c.cfg {
			m[k] = v
		}
		out[i] = m
	}
	return out, nil
}

func (c *connector) Stop() error              { return nil }
func (c *connector) NewTask() plugin.SinkTask { return &task{} }
