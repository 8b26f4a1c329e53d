package s3sink

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Format and partitioner class names, as Confluent's S3 sink takes them.
// The simple names (JsonFormat, DailyPartitioner, ...) also resolve.
const (
	JSONFormatClass      = "io.confluent.connect.s3.format.json.JsonFormat"
	AvroFormatClass      = "io.confluent.connect.s3.format.avro.AvroFormat"
	ParquetFormatClass   = "io.confluent.connect.s3.format.parquet.ParquetFormat"
	ByteArrayFormatClass = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"

	DefaultPartitionerClass   = "io.confluent.connect.storage.partitioner.DefaultPartitioner"
	FieldPartitionerClass     = "io.confluent.connect.storage.partitioner.FieldPartitioner"
	TimeBasedPartitionerClass = "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
	DailyPartitionerClass     = "io.confluent.connect.storage.partitioner.DailyPartitioner"
	HourlyPartitionerClass    = "io.confluent.connect.storage.partitioner.HourlyPartitioner"
)

const minPartSize = 5 * 1024 * 1024 // S3's smallest part but the last

func simple(class string) string { return class[strings.LastIndex(class, ".")+1:] }

// oneOfClass accepts a class by its full or simple name.
func oneOfClass(classes ...string) plugin.Validator {
	return func(name, v string) error {
		if resolveClass(strings.TrimSpace(v), classes...) == "" {
			var s []string
			for _, c := range classes {
				s = append(s, c)
			}
			return fmt.Errorf("Invalid value %s for configuration %s: Class must be one of: %s", v, name, strings.Join(s, ", "))
		}
		return nil
	}
}

func resolveClass(v string, classes ...string) string {
	for _, c := range classes {
		if v == c || v == simple(c) {
			return c
		}
	}
	return ""
}

var formatClasses = []string{JSONFormatClass, AvroFormatClass, ParquetFormatClass, ByteArrayFormatClass}
var partitionerClasses = []string{DefaultPartitionerClass, FieldPartitionerClass, TimeBasedPartitionerClass, DailyPartitionerClass, HourlyPartitionerClass}

func validTimezone(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if _, err := time.LoadLocation(strings.TrimSpace(v)); err != nil {
		return fmt.Errorf("Invalid value %s for configuration %s: %v", v, name, err)
	}
	return nil
}

// configDef is Confluent's S3 sink keys with Confluent's defaults.
var configDef = plugin.ConfigDef{
	{Name: "s3.bucket.name", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Group: "S3", Documentation: "The S3 bucket."},
	{Name: "s3.region", Type: plugin.TypeString, Default: "us-west-2", Importance: plugin.Medium, Group: "S3", Documentation: "The AWS region to be used by the connector."},
	{Name: "store.url", Type: plugin.TypeString, Default: "", Importance: plugin.High, Group: "S3", Documentation: "Store's connection URL, if applicable (any S3-compatible endpoint, e.g. http://127.0.0.1:9000)."},
	{Name: "s3.path.style.access.enabled", Type: plugin.TypeBoolean, Default: "true", Importance: plugin.Low, Group: "S3", Documentation: "Specifies whether or not to enable path style access to the bucket used by the connector."},
	{Name: "aws.access.key.id", Type: plugin.TypeString, Default: "", Importance: plugin.High, Group: "S3", Documentation: "The AWS access key ID; empty uses the AWS default credential chain."},
	{Name: "aws.secret.access.key", Type: plugin.TypePassword, Default: "", Importance: plugin.High, Group: "S3", Documentation: "The secret access key used with aws.access.key.id."},
	{Name: "s3.part.size", Type: plugin.TypeInt, Default: "26214400", Validator: plugin.AtLeast(minPartSize), Importance: plugin.High, Group: "S3", Documentation: "The Part Size in S3 Multi-part Uploads."},
	{Name: "s3.compression.type", Type: plugin.TypeString, Default: "none", Validator: plugin.OneOf("none", "gzip"), Importance: plugin.Low, Group: "S3", Documentation: "Compression type for files written to S3 (JSON and ByteArray formats)."},
	{Name: "s3.compression.level", Type: plugin.TypeInt, Default: "-1", Importance: plugin.Low, Group: "S3", Documentation: "Compression level for gzip, -1 (default) to 9."},
	{Name: "s3.conditional.writes", Type: plugin.TypeString, Default: "auto", Validator: plugin.OneOf("auto", "true", "false"), Importance: plugin.Low, Group: "S3", Documentation: "Sluice: write objects with If-None-Match: * (auto: when rotation depends on the wall clock)."},
	{Name: "topics.dir", Type: plugin.TypeString, Default: "topics", Importance: plugin.High, Group: "Storage", Documentation: "Top level directory to store the data ingested from Kafka."},
	{Name: "directory.delim", Type: plugin.TypeString, Default: "/", Importance: plugin.Medium, Group: "Storage", Documentation: "Directory delimiter pattern."},
	{Name: "file.delim", Type: plugin.TypeString, Default: "+", Importance: plugin.Medium, Group: "Storage", Documentation: "File delimiter pattern."},
	{Name: "filename.offset.zero.pad.width", Type: plugin.TypeInt, Default: "10", Validator: plugin.AtLeast(0), Importance: plugin.Low, Group: "Connector", Documentation: "Width to zero-pad offsets in store's filenames if offsets are too short."},
	{Name: "flush.size", Type: plugin.TypeInt, Required: true, Validator: plugin.AtLeast(1), Importance: plugin.High, Group: "Connector", Documentation: "Number of records written to store before invoking file commits."},
	{Name: "rotate.interval.ms", Type: plugin.TypeLong, Default: "-1", Importance: plugin.High, Group: "Connector", Documentation: "The time interval in milliseconds to invoke file commits, measured on the timestamp extractor's time."},
	{Name: "rotate.schedule.interval.ms", Type: plugin.TypeLong, Default: "-1", Importance: plugin.Medium, Group: "Connector", Documentation: "The time interval in milliseconds to periodically invoke file commits, on the wall clock."},
	{Name: "format.class", Type: plugin.TypeClass, Required: true, Validator: oneOfClass(formatClasses...), Importance: plugin.High, Group: "Connector", Documentation: "The format class to use when writing data to the store."},
	{Name: "avro.codec", Type: plugin.TypeString, Default: "null", Validator: plugin.OneOf("null", "deflate", "snappy", "zstandard"), Importance: plugin.Low, Group: "Connector", Documentation: "The Avro compression codec to be used for output files."},
	{Name: "parquet.codec", Type: plugin.TypeString, Default: "snappy", Validator: plugin.OneOf("none", "snappy", "gzip", "zstd", "lz4"), Importance: plugin.Low, Group: "Connector", Documentation: "The Parquet compression codec to be used for output files."},
	{Name: "format.bytearray.extension", Type: plugin.TypeString, Default: ".bin", Importance: plugin.Low, Group: "Connector", Documentation: "Output file extension for ByteArrayFormat."},
	{Name: "format.bytearray.separator", Type: plugin.TypeString, Default: "", Importance: plugin.Low, Group: "Connector", Documentation: "String inserted between records for ByteArrayFormat (default: line separator)."},
	{Name: "behavior.on.null.values", Type: plugin.TypeString, Default: "fail", Validator: plugin.OneOf("fail", "ignore"), Importance: plugin.Low, Group: "Connector", Documentation: "How to handle records with a null value (tombstones)."},
	{Name: "store.kafka.keys", Type: plugin.TypeBoolean, Default: "false", Importance: plugin.Low, Group: "Connector", Documentation: "Enable or disable writing keys to storage (files <name>.keys.<ext>)."},
	{Name: "store.kafka.headers", Type: plugin.TypeBoolean, Default: "false", Importance: plugin.Low, Group: "Connector", Documentation: "Enable or disable writing headers to storage (files <name>.headers.<ext>)."},
	{Name: "partitioner.class", Type: plugin.TypeClass, Default: DefaultPartitionerClass, Validator: oneOfClass(partitionerClasses...), Importance: plugin.High, Group: "Partitioner", Documentation: "The partitioner to use when writing data to the store."},
	{Name: "partition.field.name", Type: plugin.TypeList, Default: "", Importance: plugin.Medium, Group: "Partitioner", Documentation: "The name of the partitioning field(s) when FieldPartitioner is used."},
	{Name: "path.format", Type: plugin.TypeString, Default: "", Importance: plugin.Medium, Group: "Partitioner", Documentation: "Joda-Time pattern of the directories for TimeBasedPartitioner, e.g. 'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH."},
	{Name: "partition.duration.ms", Type: plugin.TypeLong, Default: "-1", Importance: plugin.Medium, Group: "Partitioner", Documentation: "The duration of a partition in milliseconds for TimeBasedPartitioner."},
	{Name: "timezone", Type: plugin.TypeString, Default: "", Validator: validTimezone, Importance: plugin.Medium, Group: "Partitioner", Documentation: "The timezone to use when partitioning with TimeBasedPartitioner (IANA name, e.g. UTC)."},
	{Name: "locale", Type: plugin.TypeString, Default: "", Importance: plugin.Medium, Group: "Partitioner", Documentation: "The locale to use when partitioning with TimeBasedPartitioner (formats here are numeric, so only validated)."},
	{Name: "timestamp.extractor", Type: plugin.TypeString, Default: "Wallclock", Validator: plugin.OneOf("Wallclock", "Record", "RecordField"), Importance: plugin.Medium, Group: "Partitioner", Documentation: "The extractor that gets the timestamp for records when partitioning with TimeBasedPartitioner."},
	{Name: "timestamp.field", Type: plugin.TypeString, Default: "timestamp", Importance: plugin.Medium, Group: "Partitioner", Documentation: "The record field to be used as timestamp by RecordField (dotted path into structs)."},
}

// settings is a parsed configuration.
type settings struct {
	bucket, region, endpoint  string
	pathStyle                 bool
	accessKey, secretKey      string
	partSize                  int
	gzip                      bool
	gzipLevel                 int
	conditional               string
	topicsDir, dirDelim       string
	fileDelim                 string
	padWidth                  int
	flushSize                 int
	rotateInterval            time.Duration
	rotateSchedule            time.Duration
	format                    string
	avroCodec, parquetCodec   string
	byteExt, byteSep          string
	ignoreNulls               bool
	storeKeys, storeHeaders   bool
	partitioner               string
	fields                    []string
	pathFormat                string
	partitionDuration         int64
	loc                       *time.Location
	extractor, timestampField string
	name                      string
	tolerateAll               bool
}

func parseSettings(cfg map[string]string) (*settings, error) {
	p, err := configDef.Parse(cfg)
	if err != nil {
		return nil, err
	}
	s := &settings{
		bucket: p.String("s3.bucket.name"), region: p.String("s3.region"), endpoint: p.String("store.url"),
		pathStyle: p.Bool("s3.path.style.access.enabled"),
		accessKey: p.String("aws.access.key.id"), secretKey: p.String("aws.secret.access.key"),
		partSize: int(p.Int("s3.part.size")), gzip: p.String("s3.compression.type") == "gzip",
		gzipLevel: int(p.Int("s3.compression.level")), conditional: p.String("s3.conditional.writes"),
		topicsDir: p.String("topics.dir"), dirDelim: p.String("directory.delim"), fileDelim: p.String("file.delim"),
		padWidth: int(p.Int("filename.offset.zero.pad.width")), flushSize: int(p.Int("flush.size")),
		rotateInterval: time.Duration(p.Int("rotate.interval.ms")) * time.Millisecond,
		rotateSchedule: time.Duration(p.Int("rotate.schedule.interval.ms")) * time.Millisecond,
		format:         resolveClass(p.String("format.class"), formatClasses...),
		avroCodec:      p.String("avro.codec"), parquetCodec: p.String("parquet.codec"),
		byteExt: p.String("format.bytearray.extension"), byteSep: "\n",
		ignoreNulls: p.String("behavior.on.null.values") == "ignore",
		storeKeys:   p.Bool("store.kafka.keys"), storeHeaders: p.Bool("store.kafka.headers"),
		partitioner: resolveClass(p.String("partitioner.class"), partitionerClasses...),
		fields:      p.List("partition.field.name"), pathFormat: p.String("path.format"),
		partitionDuration: p.Int("partition.duration.ms"),
		extractor:         p.String("timestamp.extractor"), timestampField: p.String("timestamp.field"),
		name: strings.TrimSpace(cfg["name"]),
	}
	if v, ok := cfg["format.bytearray.separator"]; ok && v != "" {
		s.byteSep = v
	}
	if s.gzipLevel < -1 || s.gzipLevel > 9 {
		return nil, fmt.Errorf("invalid configuration: Invalid value %d for configuration s3.compression.level: must be between -1 and 9", s.gzipLevel)
	}
	if (s.accessKey == "") != (s.secretKey == "") {
		return nil, fmt.Errorf("invalid configuration: aws.access.key.id and aws.secret.access.key must be set together")
	}
	s.loc = time.UTC
	if tz := p.String("timezone"); tz != "" {
		s.loc, _ = time.LoadLocation(tz)
	}
	switch s.partitioner {
	case DailyPartitionerClass:
		s.pathFormat, s.partitionDuration = "'year'=YYYY"+s.dirDelim+"'month'=MM"+s.dirDelim+"'day'=dd", 24*3600*1000
	case HourlyPartitionerClass:
		s.pathFormat, s.partitionDuration = "'year'=YYYY"+s.dirDelim+"'month'=MM"+s.dirDelim+"'day'=dd"+s.dirDelim+"'hour'=HH", 3600*1000
	}
	switch s.partitioner {
	case FieldPartitionerClass:
		if len(s.fields) == 0 {
			return nil, fmt.Errorf("invalid configuration: partition.field.name is required by FieldPartitioner")
		}
	case TimeBasedPartitionerClass, DailyPartitionerClass, HourlyPartitionerClass:
		if s.pathFormat == "" || s.partitionDuration <= 0 {
			return nil, fmt.Errorf("invalid configuration: TimeBasedPartitioner needs path.format and a positive partition.duration.ms")
		}
		if strings.TrimSpace(cfg["timezone"]) == "" {
			return nil, fmt.Errorf("invalid configuration: Missing required configuration \"timezone\" for TimeBasedPartitioner")
		}
		if _, err := compileJoda(s.pathFormat); err != nil {
			return nil, fmt.Errorf("invalid configuration: path.format: %w", err)
		}
	}
	if s.rotateInterval > 0 && !s.timeBased() {
		return nil, fmt.Errorf("invalid configuration: rotate.interval.ms needs a TimeBasedPartitioner's timestamp extractor")
	}
	switch strings.TrimSpace(cfg["errors.tolerance"]) {
	case "all":
		s.tolerateAll = true
	}
	return s, nil
}

func (s *settings) timeBased() bool {
	switch s.partitioner {
	case TimeBasedPartitionerClass, DailyPartitionerClass, HourlyPartitionerClass:
		return true
	}
	return false
}

// wallClock says whether file boundaries depend on when records arrive,
// not only on the records: then a replay may cut files elsewhere, and
// conditional writes keep it from writing an offset twice.
func (s *settings) wallClock() bool {
	if s.rotateSchedule > 0 {
		return true
	}
	return s.timeBased() && s.extractor == "Wallclock"
}

func (s *settings) conditionalWrites() bool {
	switch s.conditional {
	case "true":
		return true
	case "false":
		return false
	}
	return s.wallClock()
}
