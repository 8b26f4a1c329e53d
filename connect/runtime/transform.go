package runtime

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Record is a record as transforms see it, for sources and sinks alike.
type Record struct {
	Topic     string
	Partition int32 // -1 when not yet known (a source record)
	Offset    int64 // -1 when not yet known
	Key       any
	Value     any
	Headers   []plugin.Header
	Timestamp time.Time
}

// Transform rewrites a record; returning nil drops it.
type Transform interface {
	Apply(r *Record) (*Record, error)
}

// Predicate decides whether a transform applies to a record.
type Predicate interface {
	Test(r *Record) bool
}

// chainEntry is one configured transform with its optional predicate.
type chainEntry struct {
	name   string
	t      Transform
	pred   Predicate
	negate bool
}

// Chain is a connector's transform chain, built from Kafka Connect's keys:
// transforms=a,b; transforms.a.type=...; transforms.a.predicate=p;
// transforms.a.negate=true; predicates=p; predicates.p.type=...
type Chain struct{ entries []chainEntry }

// Apply runs the chain; a nil record means dropped.
func (c *Chain) Apply(r *Record) (*Record, error) {
	if c == nil {
		return r, nil
	}
	for _, e := range c.entries {
		if r == nil {
			return nil, nil
		}
		if e.pred != nil && e.pred.Test(r) == e.negate {
			continue
		}
		out, err := e.t.Apply(r)
		if err != nil {
			return nil, fmt.Errorf("transform %s: %w", e.name, err)
		}
		r = out
	}
	return r, nil
}

// sub returns the keys under prefix with the prefix removed.
func sub(cfg map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// BuildChain builds the transform chain of a connector configuration; its
// errors are per key, for the validation result.
func BuildChain(cfg map[string]string) (*Chain, map[string]string) {
	errs := map[string]string{}
	preds := map[string]Predicate{}
	for _, p := range plugin.SplitList(cfg["predicates"]) {
		key := "predicates." + p + ".type"
		pc := sub(cfg, "predicates."+p+".")
		pr, err := newPredicate(pc["type"], pc)
		if err != nil {
			errs[key] = err.Error()
			continue
		}
		preds[p] = pr
	}
	c := &Chain{}
	for _, name := range plugin.SplitList(cfg["transforms"]) {
		tc := sub(cfg, "transforms."+name+".")
		t, err := newTransform(tc["type"], tc)
		if err != nil {
			errs["transforms."+name+".type"] = err.Error()
			continue
		}
		e := chainEntry{name: name, t: t}
		if pn := strings.TrimSpace(tc["predicate"]); pn != "" {
			pr, ok := preds[pn]
			if !ok {
				errs["transforms."+name+".predicate"] = fmt.Sprintf("Invalid value %s for configuration transforms.%s.predicate: undefined predicate", pn, name)
				continue
			}
			e.pred = pr
			e.negate = strings.EqualFold(strings.TrimSpace(tc["negate"]), "true")
		}
		c.entries = append(c.entries, e)
	}
	return c, errs
}

const (
	transformsPkg = "org.apache.kafka.connect.transforms."
	predicatesPkg = "org.apache.kafka.connect.transforms.predicates."
)

func newPredicate(class string, cfg map[string]string) (Predicate, error) {
	switch strings.TrimPrefix(strings.TrimSpace(class), predicatesPkg) {
	case "TopicNameMatches":
		re, err := regexp.Compile("^(?:" + cfg["pattern"] + ")$")
		if err != nil || cfg["pattern"] == "" {
			return nil, fmt.Errorf("Invalid value %s for configuration pattern: must be a valid regular expression", cfg["pattern"])
		}
		return topicMatches{re}, nil
	case "HasHeaderKey":
		if cfg["name"] == "" {
			return nil, fmt.Errorf("Missing required configuration \"name\" which has no default value.")
		}
		return hasHeader{cfg["name"]}, nil
	case "RecordIsTombstone":
		return tombstone{}, nil
	case "":
		return nil, fmt.Errorf("Missing required configuration \"type\" which has no default value.")
	}
	return nil, fmt.Errorf("Class %s could not be found.", class)
}

type topicMatches struct{ re *regexp.Regexp }

func (p topicMatches) Test(r *Record) bool { return p.re.MatchString(r.Topic) }

type hasHeader struct{ name string }

func (p hasHeader) Test(r *Record) bool {
	for _, h := range r.Headers {
		if h.Key == p.name {
			return true
		}
	}
	return false
}

type tombstone struct{}

func (tombstone) Test(r *Record) bool { return r.Value == nil }

// newTransform builds a transform from its class (Kafka's names, with the
// $Key/$Value variants) and settings.
func newTransform(class string, cfg map[string]string) (Transform, error) {
	class = strings.TrimSpace(class)
	if class == ExprTransformClass || class == "Expr" {
		return newExprTransform(cfg)
	}
	name := strings.TrimPrefix(class, transformsPkg)
	base, variant, _ := strings.Cut(name, "$")
	onKey := variant == "Key"
	needVariant := func() error {
		if variant != "Key" && variant != "Value" {
			return fmt.Errorf("Class %s could not be found. Use %s$Key or %s$Value", class, class, class)
		}
		return nil
	}
	switch base {
	case "InsertField":
		if err := needVariant(); err != nil {
			return nil, err
		}
		return &insertField{onKey: onKey, topic: cfg["topic.field"], partition: cfg["partition.field"], offset: cfg["offset.field"],
			timestamp: cfg["timestamp.field"], staticField: cfg["static.field"], staticValue: cfg["static.value"]}, nil
	case "ReplaceField":
		if err := needVariant(); err != nil {
			return nil, err
		}
		t := &replaceField{onKey: onKey, include: set(cfg["include"], cfg["whitelist"]), exclude: set(cfg["exclude"], cfg["blacklist"]), renames: map[string]string{}}
		for _, pair := range plugin.SplitList(cfg["renames"]) {
			from, to, ok := strings.Cut(pair, ":")
			if !ok || from == "" || to == "" {
				return nil, fmt.Errorf("Invalid value %s for configuration renames: Invalid rename mapping: %s", cfg["renames"], pair)
			}
			t.renames[from] = to
		}
		return t, nil
	case "MaskField":
		if err := needVariant(); err != nil {
			return nil, err
		}
		f := plugin.SplitList(cfg["fields"])
		if len(f) == 0 {
			return nil, fmt.Errorf("Missing required configuration \"fields\" which has no default value.")
		}
		t := &maskField{onKey: onKey, fields: f}
		if r, ok := cfg["replacement"]; ok {
			t.replacement = &r
		}
		return t, nil
	case "ValueToKey":
		f := plugin.SplitList(cfg["fields"])
		if len(f) == 0 {
			return nil, fmt.Errorf("Missing required configuration \"fields\" which has no default value.")
		}
		return valueToKey{fields: f}, nil
	case "ExtractField":
		if err := needVariant(); err != nil {
			return nil, err
		}
		if cfg["field"] == "" {
			return nil, fmt.Errorf("Missing required configuration \"field\" which has no default value.")
		}
		return extractField{onKey: onKey, field: cfg["field"]}, nil
	case "Cast":
		if err := needVariant(); err != nil {
			return nil, err
		}
		return newCast(onKey, cfg["spec"])
	case "TimestampRouter":
		tf := cfg["topic.format"]
		if tf == "" {
			tf = "${topic}-${timestamp}"
		}
		ts := cfg["timestamp.format"]
		if ts == "" {
			ts = "yyyyMMdd"
		}
		return timestampRouter{topicFormat: tf, layout: javaLayout(ts)}, nil
	case "RegexRouter":
		re, err := regexp.Compile("^(?:" + cfg["regex"] + ")$")
		if err != nil || cfg["regex"] == "" {
			return nil, fmt.Errorf("Invalid value %s for configuration regex: must be a valid regular expression", cfg["regex"])
		}
		if _, ok := cfg["replacement"]; !ok {
			return nil, fmt.Errorf("Missing required configuration \"replacement\" which has no default value.")
		}
		return regexRouter{re: re, repl: javaReplacement(cfg["replacement"])}, nil
	case "Filter":
		return filter{}, nil
	case "":
		return nil, fmt.Errorf("Missing required configuration \"type\" which has no default value.")
	}
	return nil, fmt.Errorf("Class %s could not be found.", class)
}

func set(lists ...string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, x := range plugin.SplitList(l) {
			m[x] = true
		}
	}
	return m
}

// target returns the key or value being transformed as a struct (map).
func target(r *Record, onKey bool) (map[string]any, error) {
	v := r.Value
	if onKey {
		v = r.Key
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("only Map objects supported in absence of schema, found: %T", v)
	}
	return m, nil
}

func put(r *Record, onKey bool, m map[string]any) *Record {
	out := *r
	if onKey {
		out.Key = m
	} else {
		out.Value = m
	}
	return &out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

type insertField struct {
	onKey                                                         bool
	topic, partition, offset, timestamp, staticField, staticValue string
}

// field strips Kafka's optional "!" (required) and "?" (optional) suffix.
func field(s string) string { return strings.TrimRight(s, "!?") }

func (t *insertField) Apply(r *Record) (*Record, error) {
	m, err := target(r, t.onKey)
	if err != nil || m == nil {
		return r, err
	}
	m = clone(m)
	if t.topic != "" {
		m[field(t.topic)] = r.Topic
	}
	if t.partition != "" && r.Partition >= 0 {
		m[field(t.partition)] = int64(r.Partition)
	}
	if t.offset != "" && r.Offset >= 0 {
		m[field(t.offset)] = r.Offset
	}
	if t.timestamp != "" && !r.Timestamp.IsZero() {
		m[field(t.timestamp)] = r.Timestamp.UnixMilli()
	}
	if t.staticField != "" {
		m[field(t.staticField)] = t.staticValue
	}
	return put(r, t.onKey, m), nil
}

type replaceField struct {
	onKey            bool
	include, exclude map[string]bool
	renames          map[string]string
}

func (t *replaceField) Apply(r *Record) (*Record, error) {
	m, err := target(r, t.onKey)
	if err != nil || m == nil {
		return r, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if t.exclude[k] || (len(t.include) > 0 && !t.include[k]) {
			continue
		}
		if to, ok := t.renames[k]; ok {
			k = to
		}
		out[k] = v
	}
	return put(r, t.onKey, out), nil
}

type maskField struct {
	onKey       bool
	fields      []string
	replacement *string
}

// maskValue is Kafka's per-type "empty" value.
func maskValue(v any) any {
	switch v.(type) {
	case bool:
		return false
	case int64, int, int32:
		return int64(0)
	case float64, float32:
		return float64(0)
	case string:
		return ""
	case []byte:
		return []byte{}
	case []any:
		return []any{}
	case map[string]any:
		return map[string]any{}
	}
	return nil
}

func (t *maskField) Apply(r *Record) (*Record, error) {
	m, err := target(r, t.onKey)
	if err != nil || m == nil {
		return r, err
	}
	m = clone(m)
	for _, f := range t.fields {
		v, ok := m[f]
		if !ok {
			continue
		}
		if t.replacement != nil {
			c, err := castTo(*t.replacement, kindOf(v))
			if err != nil {
				return nil, fmt.Errorf("Unable to mask field %s with replacement %q: %w", f, *t.replacement, err)
			}
			m[f] = c
		} else {
			m[f] = maskValue(v)
		}
	}
	return put(r, t.onKey, m), nil
}

func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int64, int, int32:
		return "int64"
	case float64, float32:
		return "float64"
	}
	return "string"
}

type valueToKey struct{ fields []string }

func (t valueToKey) Apply(r *Record) (*Record, error) {
	m, err := target(r, false)
	if err != nil {
		return nil, err
	}
	key := map[string]any{}
	for _, f := range t.fields {
		v, ok := m[f]
		if !ok {
			return nil, fmt.Errorf("field %s not found in value", f)
		}
		key[f] = v
	}
	out := *r
	out.Key = key
	return &out, nil
}

type extractField struct {
	onKey bool
	field string
}

func (t extractField) Apply(r *Record) (*Record, error) {
	m, err := target(r, t.onKey)
	if err != nil {
		return nil, err
	}
	out := *r
	var v any
	if m != nil {
		v = m[t.field]
	}
	if t.onKey {
		out.Key = v
	} else {
		out.Value = v
	}
	return &out, nil
}

type cast struct {
	onKey  bool
	whole  string            // cast the whole key/value to this type
	fields map[string]string // or these fields
}

var castTypes = map[string]bool{"int8": true, "int16": true, "int32": true, "int64": true, "float32": true, "float64": true, "boolean": true, "string": true}

func newCast(onKey bool, spec string) (Transform, error) {
	items := plugin.SplitList(spec)
	if len(items) == 0 {
		return nil, fmt.Errorf("Invalid value %s for configuration spec: Must specify at least one field to cast.", spec)
	}
	c := &cast{onKey: onKey, fields: map[string]string{}}
	for _, it := range items {
		f, typ, ok := strings.Cut(it, ":")
		if !ok {
			if len(items) != 1 || !castTypes[it] {
				return nil, fmt.Errorf("Invalid value %s for configuration spec: Invalid cast mapping: %s", spec, it)
			}
			c.whole = it
			return c, nil
		}
		if !castTypes[typ] {
			return nil, fmt.Errorf("Invalid value %s for configuration spec: Invalid type found in casting spec: %s", spec, typ)
		}
		c.fields[f] = typ
	}
	return c, nil
}

func (t *cast) Apply(r *Record) (*Record, error) {
	if t.whole != "" {
		v := r.Value
		if t.onKey {
			v = r.Key
		}
		if v == nil {
			return r, nil
		}
		c, err := castTo(v, t.whole)
		if err != nil {
			return nil, err
		}
		out := *r
		if t.onKey {
			out.Key = c
		} else {
			out.Value = c
		}
		return &out, nil
	}
	m, err := target(r, t.onKey)
	if err != nil || m == nil {
		return r, err
	}
	m = clone(m)
	for f, typ := range t.fields {
		v, ok := m[f]
		if !ok || v == nil {
			continue
		}
		c, err := castTo(v, typ)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		m[f] = c
	}
	return put(r, t.onKey, m), nil
}

// castTo converts a primitive to one of Cast's target types.
func castTo(v any, typ string) (any, error) {
	var f float64
	var isNum bool
	switch x := v.(type) {
	case int64:
		f, isNum = float64(x), true
	case int:
		f, isNum = float64(x), true
	case float64:
		f, isNum = x, true
	case bool:
		if x {
			f = 1
		}
		isNum = true
	case string:
		if typ == "string" {
			return x, nil
		}
		if typ == "boolean" {
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, fmt.Errorf("cannot cast %q to boolean", x)
			}
			return b, nil
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to %s", x, typ)
		}
		f, isNum = p, true
	}
	if !isNum {
		return nil, fmt.Errorf("Cast transformation does not support casting from %T", v)
	}
	switch typ {
	case "int8", "int16", "int32", "int64":
		return int64(f), nil
	case "float32", "float64":
		return f, nil
	case "boolean":
		return f != 0, nil
	case "string":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		if f == float64(int64(f)) {
			if _, isFloat := v.(float64); !isFloat {
				return strconv.FormatInt(int64(f), 10), nil
			}
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("unknown cast type %s", typ)
}

type timestampRouter struct{ topicFormat, layout string }

func (t timestampRouter) Apply(r *Record) (*Record, error) {
	if r.Timestamp.IsZero() {
		return nil, fmt.Errorf("Timestamp missing on record: %s", r.Topic)
	}
	out := *r
	out.Topic = strings.ReplaceAll(strings.ReplaceAll(t.topicFormat, "${topic}", r.Topic), "${timestamp}", r.Timestamp.UTC().Format(t.layout))
	return &out, nil
}

// javaLayout converts the common SimpleDateFormat letters to a Go layout.
func javaLayout(f string) string {
	r := strings.NewReplacer("yyyy", "2006", "yy", "06", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "SSS", "000")
	return r.Replace(f)
}

// javaReplacement turns Java's $1 group references into Go's ${1}.
func javaReplacement(s string) string {
	return regexp.MustCompile(`\$(\d+)`).ReplaceAllString(s, `$${$1}`)
}

type regexRouter struct {
	re   *regexp.Regexp
	repl string
}

func (t regexRouter) Apply(r *Record) (*Record, error) {
	if !t.re.MatchString(r.Topic) {
		return r, nil
	}
	out := *r
	out.Topic = t.re.ReplaceAllString(r.Topic, t.repl)
	return &out, nil
}

type filter struct{}

func (filter) Apply(*Record) (*Record, error) { return nil, nil }
