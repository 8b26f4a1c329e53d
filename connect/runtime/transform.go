package runtime

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Record is a record as transforms see it, for sources and sinks alike.
type Record struct {
	Topic       string
	Partition   int32          // -1 when not yet known (a source record)
	Offset      int64          // -1 when not yet known
	KeySchema   *plugin.Schema // nil: schemaless
	Key         any
	ValueSchema *plugin.Schema // nil: schemaless
	Value       any
	Headers     []plugin.Header
	Timestamp   time.Time
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
		return &valueToKey{fields: f}, nil
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
