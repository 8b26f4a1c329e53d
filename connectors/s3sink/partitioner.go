package s3sink

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// partitioner computes a record's encoded partition (the directories under
// <topics.dir>/<topic>/), as Confluent's partitioners do.
type partitioner struct {
	s    *settings
	path jodaFormat
	now  func() time.Time
	dirs []string // DefaultPartitioner's "partition=N" by N, made once
}

func newPartitioner(s *settings) *partitioner {
	p := &partitioner{s: s, now: time.Now}
	if s.timeBased() {
		p.path, _ = compileJoda(s.pathFormat)
	}
	return p
}

// timestamp is the record's time by timestamp.extractor (Unix ms).
func (p *partitioner) timestamp(r *plugin.SinkRecord) (int64, error) {
	if p.s.extractor == "Wallclock" && !p.s.timeBased() && p.s.rotateInterval <= 0 {
		return 0, nil // nothing reads it: spare a clock read per record
	}
	switch p.s.extractor {
	case "Record":
		if r.Timestamp.IsZero() {
			return 0, fmt.Errorf("unable to determine timestamp using timestamp.extractor Record for record without a timestamp")
		}
		return r.Timestamp.UnixMilli(), nil
	case "RecordField":
		v, err := fieldValue(r.Value, p.s.timestampField)
		if err != nil {
			return 0, err
		}
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int:
			return int64(x), nil
		case float64:
			return int64(x), nil
		case time.Time:
			return x.UnixMilli(), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return 0, fmt.Errorf("timestamp field %s: %q is not an ISO-8601 timestamp", p.s.timestampField, x)
			}
			return t.UnixMilli(), nil
		}
		return 0, fmt.Errorf("timestamp field %s: unsupported type %T", p.s.timestampField, v)
	}
	return p.now().UnixMilli(), nil
}

// encode returns the encoded partition of r with timestamp ts.
func (p *partitioner) encode(r *plugin.SinkRecord, ts int64) (string, error) {
	switch p.s.partitioner {
	case FieldPartitionerClass:
		parts := make([]string, 0, len(p.s.fields))
		for _, f := range p.s.fields {
			v, err := fieldValue(r.Value, f)
			if err != nil {
				return "", err
			}
			var sv string
			switch x := v.(type) {
			case string:
				sv = x
			case int64:
				sv = strconv.FormatInt(x, 10)
			case int32:
				sv = strconv.FormatInt(int64(x), 10)
			case int:
				sv = strconv.Itoa(x)
			case float64:
				if x != float64(int64(x)) {
					return "", fmt.Errorf("partition field %s: type float64 is not supported", f)
				}
				sv = strconv.FormatInt(int64(x), 10)
			case bool:
				sv = strconv.FormatBool(x)
			default:
				return "", fmt.Errorf("partition field %s: type %T is not supported", f, v)
			}
			parts = append(parts, f+"="+sv)
		}
		return strings.Join(parts, p.s.dirDelim), nil
	case TimeBasedPartitionerClass, DailyPartitionerClass, HourlyPartitionerClass:
		return p.path.format(bucketStart(ts, p.s.partitionDuration, p.s.loc)), nil
	}
	if n := int(r.Partition); n >= 0 && n < 1<<16 {
		if n >= len(p.dirs) {
			p.dirs = append(p.dirs, make([]string, n+1-len(p.dirs))...)
		}
		if p.dirs[n] == "" {
			p.dirs[n] = "partition=" + strconv.Itoa(n)
		}
		return p.dirs[n], nil
	}
	return "partition=" + strconv.Itoa(int(r.Partition)), nil
}

// bucketStart floors ts to the partition duration in the zone's local time,
// as Confluent's TimeBasedPartitioner.getPartition does.
func bucketStart(ts, duration int64, loc *time.Location) time.Time {
	_, off := time.UnixMilli(ts).In(loc).Zone()
	adj := ts + int64(off)*1000
	start := adj - mod(adj, duration) - int64(off)*1000
	return time.UnixMilli(start).In(loc)
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// fieldValue finds a (dotted) field in a struct or map value.
func fieldValue(v any, path string) (any, error) {
	cur := v
	for _, name := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case *plugin.Struct:
			if x == nil || (x.Schema != nil && x.Schema.Field(name) == nil && len(x.Schema.Fields) > 0) {
				return nil, fmt.Errorf("field %s not found in the record value", path)
			}
			cur = x.Get(name)
		case map[string]any:
			f, ok := x[name]
			if !ok {
				return nil, fmt.Errorf("field %s not found in the record value", path)
			}
			cur = f
		default:
			return nil, fmt.Errorf("field %s: record value of type %T is not a struct or map", path, cur)
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("field %s is null", path)
	}
	return cur, nil
}

// jodaFormat is a compiled Joda-Time DateTimeFormat pattern (the subset
// partition paths use: years, months, days, hours, minutes, seconds,
// milliseconds, day of year, week and quoted literals).
type jodaFormat []jodaPart

type jodaPart struct {
	lit   string
	field byte // 0 for a literal
	width int
}

func compileJoda(pat string) (jodaFormat, error) {
	var out jodaFormat
	for i := 0; i < len(pat); {
		c := pat[i]
		switch {
		case c == '\'':
			j := i + 1
			var lit strings.Builder
			for {
				if j >= len(pat) {
					return nil, fmt.Errorf("unterminated quote in %q", pat)
				}
				if pat[j] == '\'' {
					if j+1 < len(pat) && pat[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(pat[j])
				j++
			}
			if j == i+1 {
				lit.WriteByte('\'') // '' is a quote
			}
			out = append(out, jodaPart{lit: lit.String()})
			i = j + 1
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i
			for j < len(pat) && pat[j] == c {
				j++
			}
			if !strings.ContainsRune("YyxMdHhkKmsSDwe", rune(c)) {
				return nil, fmt.Errorf("unsupported pattern letter %q in %q", c, pat)
			}
			out = append(out, jodaPart{field: c, width: j - i})
			i = j
		default:
			out = append(out, jodaPart{lit: string(c)})
			i++
		}
	}
	return out, nil
}

func (f jodaFormat) format(t time.Time) string {
	var b strings.Builder
	for _, p := range f {
		if p.field == 0 {
			b.WriteString(p.lit)
			continue
		}
		var n int
		switch p.field {
		case 'Y', 'y', 'x':
			n = t.Year()
			if p.width == 2 {
				n %= 100
			}
		case 'M':
			n = int(t.Month())
		case 'd':
			n = t.Day()
		case 'H':
			n = t.Hour()
		case 'k':
			n = t.Hour()
			if n == 0 {
				n = 24
			}
		case 'h':
			n = t.Hour() % 12
			if n == 0 {
				n = 12
			}
		case 'K':
			n = t.Hour() % 12
		case 'm':
			n = t.Minute()
		case 's':
			n = t.Second()
		case 'S':
			n = t.Nanosecond() / 1e6
		case 'D':
			n = t.YearDay()
		case 'w':
			_, n = t.ISOWeek()
		case 'e':
			n = int(t.Weekday())
			if n == 0 {
				n = 7
			}
		}
		s := strconv.Itoa(n)
		for len(s) < p.width {
			s = "0" + s
		}
		b.WriteString(s)
	}
	return b.String()
}
