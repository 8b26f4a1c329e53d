package triggers

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/connectors/webhook"
)

// Trigger is a Lambda-style event source mapping, in the API's JSON. Pointer
// fields are optional on input and always set on output.
type Trigger struct {
	Name                           string             `json:"name"`
	URL                            string             `json:"url"`
	Topics                         []string           `json:"topics"`
	ConsumerGroupID                string             `json:"consumerGroupId,omitempty"`
	BatchSize                      *int               `json:"batchSize,omitempty"`
	MaximumBatchingWindowInSeconds *float64           `json:"maximumBatchingWindowInSeconds,omitempty"`
	StartingPosition               string             `json:"startingPosition,omitempty"`
	StartingPositionTimestamp      *float64           `json:"startingPositionTimestamp,omitempty"`
	Enabled                        *bool              `json:"enabled,omitempty"`
	FilterCriteria                 *FilterCriteria    `json:"filterCriteria,omitempty"`
	MaximumRetryAttempts           *int               `json:"maximumRetryAttempts,omitempty"`
	MaximumRecordAgeInSeconds      *int               `json:"maximumRecordAgeInSeconds,omitempty"`
	BisectBatchOnFunctionError     *bool              `json:"bisectBatchOnFunctionError,omitempty"`
	DestinationConfig              *DestinationConfig `json:"destinationConfig,omitempty"`
	Headers                        map[string]string  `json:"headers,omitempty"`
	Secret                         *string            `json:"secret,omitempty"`
	Timeout                        *float64           `json:"timeout,omitempty"`
	Concurrency                    *int               `json:"concurrency,omitempty"`
	Tasks                          *int               `json:"tasks,omitempty"`
	RetryBackoffMs                 *int64             `json:"retryBackoffMs,omitempty"`
	RetryBackoffMaxMs              *int64             `json:"retryBackoffMaxMs,omitempty"`
	EventSource                    string             `json:"eventSource,omitempty"`

	// Output only.
	EventSourceArn        string `json:"eventSourceArn,omitempty"`
	Connector             string `json:"connector,omitempty"`
	State                 string `json:"state,omitempty"`
	StateTransitionReason string `json:"stateTransitionReason,omitempty"`
	Lag                   *int64 `json:"lag,omitempty"`
}

// FilterCriteria is Lambda's, plus expr-lang expressions.
type FilterCriteria struct {
	Filters []webhook.FilterSpec `json:"filters"`
}

// DestinationConfig is Lambda's; the destination is a topic, with or
// without Lambda's kafka:// prefix.
type DestinationConfig struct {
	OnFailure *struct {
		Destination string `json:"destination"`
	} `json:"onFailure,omitempty"`
}

// Starting positions.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	AtTimestamp = "AT_TIMESTAMP"
)

// ConnectorPrefix names a trigger's connector: trigger x is connector
// trigger-x, consuming in group connect-trigger-x.
const ConnectorPrefix = "trigger-"

// MaskedSecret replaces the secret in answers other than create's.
const MaskedSecret = "********"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// ConnectorName is the connector of trigger name.
func ConnectorName(name string) string { return ConnectorPrefix + name }

// GroupID is the consumer group of trigger name.
func GroupID(name string) string { return "connect-" + ConnectorName(name) }

// badRequest is an input error: a 400 with its message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(format string, a ...any) error { return &badRequest{fmt.Sprintf(format, a...)} }

func (t *Trigger) failureTopic() string {
	if t.DestinationConfig == nil || t.DestinationConfig.OnFailure == nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(t.DestinationConfig.OnFailure.Destination), "kafka://")
}

// validate checks what needs no cluster, and fills in defaults.
func (t *Trigger) validate() error {
	if !nameRE.MatchString(t.Name) {
		return bad("name %q: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", t.Name)
	}
	u, err := url.Parse(strings.TrimSpace(t.URL))
	if t.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url %q: want an absolute http:// or https:// URL", t.URL)
	}
	if len(t.Topics) == 0 {
		return bad("topics: give at least one topic")
	}
	for _, tp := range t.Topics {
		if strings.TrimSpace(tp) == "" || strings.Contains(tp, ",") {
			return bad("topics: %q is not a topic name", tp)
		}
	}
	if g := GroupID(t.Name); t.ConsumerGroupID != "" && t.ConsumerGroupID != g {
		return bad("consumerGroupId %q: a trigger consumes in its connector's group, %q (custom group ids are not supported)", t.ConsumerGroupID, g)
	}
	t.ConsumerGroupID = GroupID(t.Name)
	if t.BatchSize == nil {
		t.BatchSize = ptr(100)
	}
	if *t.BatchSize < 1 || *t.BatchSize > webhook.MaxBatchSize {
		return bad("batchSize %d: must be 1 to %d", *t.BatchSize, webhook.MaxBatchSize)
	}
	if t.MaximumBatchingWindowInSeconds == nil {
		t.MaximumBatchingWindowInSeconds = ptr(0.5)
	}
	if w := *t.MaximumBatchingWindowInSeconds; w < 0 || w > 300 {
		return bad("maximumBatchingWindowInSeconds %v: must be 0 to 300", w)
	}
	switch t.StartingPosition {
	case "":
		t.StartingPosition = TrimHorizon
	case TrimHorizon, Latest:
	case AtTimestamp:
		if t.StartingPositionTimestamp == nil {
			return bad("startingPosition AT_TIMESTAMP needs startingPositionTimestamp (Unix seconds)")
		}
	default:
		return bad("startingPosition %q: must be TRIM_HORIZON, LATEST or AT_TIMESTAMP", t.StartingPosition)
	}
	if t.Enabled == nil {
		t.Enabled = ptr(true)
	}
	if t.FilterCriteria != nil && len(t.FilterCriteria.Filters) > 0 {
		b, _ := json.Marshal(t.FilterCriteria.Filters)
		if _, err := webhook.ParseFilters(string(b)); err != nil {
			return bad("filterCriteria: %v", err)
		}
	}
	if t.MaximumRetryAttempts == nil {
		t.MaximumRetryAttempts = ptr(-1)
	}
	if n := *t.MaximumRetryAttempts; n < -1 || n > 10000 {
		return bad("maximumRetryAttempts %d: must be -1 (forever) to 10000", n)
	}
	if t.MaximumRecordAgeInSeconds == nil {
		t.MaximumRecordAgeInSeconds = ptr(-1)
	}
	if n := *t.MaximumRecordAgeInSeconds; n != -1 && (n < 1 || n > 604800) {
		return bad("maximumRecordAgeInSeconds %d: must be -1 (no limit) or 1 to 604800", n)
	}
	if t.BisectBatchOnFunctionError == nil {
		t.BisectBatchOnFunctionError = ptr(false)
	}
	if f := t.failureTopic(); f != "" {
		for _, tp := range t.Topics {
			if tp == f {
				return bad("destinationConfig.onFailure.destination %q is also a source topic: that would loop", f)
			}
		}
	}
	if t.Secret != nil && *t.Secret != "" {
		if _, err := webhook.ParseSecret(*t.Secret); err != nil {
			return bad("secret: %v", err)
		}
	}
	if t.Timeout == nil {
		t.Timeout = ptr(30.0)
	}
	if *t.Timeout <= 0 || *t.Timeout > 900 {
		return bad("timeout %v: must be above 0 and at most 900 seconds", *t.Timeout)
	}
	if t.Concurrency == nil {
		t.Concurrency = ptr(10)
	}
	if *t.Concurrency < 1 || *t.Concurrency > 1000 {
		return bad("concurrency %d: must be 1 to 1000", *t.Concurrency)
	}
	if t.Tasks == nil {
		t.Tasks = ptr(1)
	}
	if *t.Tasks < 1 || *t.Tasks > 1000 {
		return bad("tasks %d: must be 1 to 1000", *t.Tasks)
	}
	if t.RetryBackoffMs == nil {
		t.RetryBackoffMs = ptr(int64(500))
	}
	if t.RetryBackoffMaxMs == nil {
		t.RetryBackoffMaxMs = ptr(int64(60000))
	}
	if *t.RetryBackoffMs < 1 || *t.RetryBackoffMaxMs < *t.RetryBackoffMs {
		return bad("retryBackoffMs must be at least 1 and at most retryBackoffMaxMs")
	}
	switch t.EventSource {
	case "":
		t.EventSource = "SelfManagedKafka"
	case "SelfManagedKafka", "aws:kafka":
	default:
		return bad("eventSource %q: must be SelfManagedKafka or aws:kafka", t.EventSource)
	}
	if _, err := json.Marshal(t.Headers); err != nil {
		return bad("headers: %v", err)
	}
	for k := range t.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return bad("headers: bad header name %q", k)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// connectorConfig translates a validated trigger.
func (t *Trigger) connectorConfig() map[string]string {
	c := map[string]string{
		"connector.class":        webhook.Class,
		"name":                   ConnectorName(t.Name),
		"tasks.max":              strconv.Itoa(*t.Tasks),
		"topics":                 strings.Join(t.Topics, ","),
		"key.converter":          "org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter":        "org.apache.kafka.connect.converters.ByteArrayConverter",
		webhook.KeyTrigger:       t.Name,
		webhook.KeyURL:           strings.TrimSpace(t.URL),
		webhook.KeyBatchSize:     strconv.Itoa(*t.BatchSize),
		webhook.KeyWindow:        strconv.FormatFloat(*t.MaximumBatchingWindowInSeconds, 'f', -1, 64),
		webhook.KeyMaxRetries:    strconv.Itoa(*t.MaximumRetryAttempts),
		webhook.KeyMaxAge:        strconv.Itoa(*t.MaximumRecordAgeInSeconds),
		webhook.KeyBisect:        strconv.FormatBool(*t.BisectBatchOnFunctionError),
		webhook.KeyOnFailure:     t.failureTopic(),
		webhook.KeyTimeout:       strconv.FormatFloat(*t.Timeout, 'f', -1, 64),
		webhook.KeyConcurrency:   strconv.Itoa(*t.Concurrency),
		webhook.KeyBackoff:       strconv.FormatInt(*t.RetryBackoffMs, 10),
		webhook.KeyBackoffMax:    strconv.FormatInt(*t.RetryBackoffMaxMs, 10),
		webhook.KeyEventSource:   t.EventSource,
		webhook.KeyStartPosition: t.StartingPosition,
	}
	if t.StartingPositionTimestamp != nil {
		c[webhook.KeyStartTimestamp] = time.UnixMilli(int64(*t.StartingPositionTimestamp * 1000)).UTC().Format(time.RFC3339Nano)
	}
	if t.FilterCriteria != nil && len(t.FilterCriteria.Filters) > 0 {
		b, _ := json.Marshal(t.FilterCriteria.Filters)
		c[webhook.KeyFilters] = string(b)
	}
	if len(t.Headers) > 0 {
		b, _ := json.Marshal(t.Headers)
		c[webhook.KeyHeaders] = string(b)
	}
	if t.Secret != nil {
		c[webhook.KeySecret] = *t.Secret
	}
	return c
}

// fromConnector reads a trigger back from its connector config; the
// secret is masked.
func fromConnector(name string, c map[string]string) *Trigger {
	atoi := func(k string, def int) *int {
		if n, err := strconv.Atoi(c[k]); err == nil {
			return &n
		}
		return &def
	}
	atof := func(k string, def float64) *float64 {
		if f, err := strconv.ParseFloat(c[k], 64); err == nil {
			return &f
		}
		return &def
	}
	atol := func(k string, def int64) *int64 {
		if n, err := strconv.ParseInt(c[k], 10, 64); err == nil {
			return &n
		}
		return &def
	}
	t := &Trigger{
		Name: name, URL: c[webhook.KeyURL], Topics: plugin.SplitList(c["topics"]), ConsumerGroupID: GroupID(name),
		BatchSize: atoi(webhook.KeyBatchSize, 100), MaximumBatchingWindowInSeconds: atof(webhook.KeyWindow, 0.5),
		StartingPosition: c[webhook.KeyStartPosition], MaximumRetryAttempts: atoi(webhook.KeyMaxRetries, -1),
		MaximumRecordAgeInSeconds: atoi(webhook.KeyMaxAge, -1), BisectBatchOnFunctionError: ptr(c[webhook.KeyBisect] == "true"),
		Timeout: atof(webhook.KeyTimeout, 30), Concurrency: atoi(webhook.KeyConcurrency, 10), Tasks: atoi("tasks.max", 1),
		RetryBackoffMs: atol(webhook.KeyBackoff, 500), RetryBackoffMaxMs: atol(webhook.KeyBackoffMax, 60000),
		EventSource: c[webhook.KeyEventSource], EventSourceArn: webhook.Arn(name), Connector: ConnectorName(name),
	}
	if t.StartingPosition == "" {
		t.StartingPosition = TrimHorizon
	}
	if ts, err := time.Parse(time.RFC3339Nano, c[webhook.KeyStartTimestamp]); err == nil {
		t.StartingPositionTimestamp = ptr(float64(ts.UnixMilli()) / 1000)
	}
	if f := c[webhook.KeyFilters]; f != "" {
		var specs []webhook.FilterSpec
		if json.Unmarshal([]byte(f), &specs) == nil {
			t.FilterCriteria = &FilterCriteria{Filters: specs}
		}
	}
	if d := c[webhook.KeyOnFailure]; d != "" {
		t.DestinationConfig = &DestinationConfig{OnFailure: &struct {
			Destination string `json:"destination"`
		}{Destination: d}}
	}
	if h := c[webhook.KeyHeaders]; h != "" {
		_ = json.Unmarshal([]byte(h), &t.Headers)
	}
	if c[webhook.KeySecret] != "" {
		t.Secret = ptr(MaskedSecret)
	}
	return t
}
