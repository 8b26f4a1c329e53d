package group

import "github.com/twmb/franz-go/pkg/kmsg"

// MaxVersions are the highest request versions each handler implements, by
// API key; every handler accepts versions from 0. OffsetCommit and
// OffsetFetch v10 address topics by id and need Config.TopicName/TopicID.
var MaxVersions = map[kmsg.Key]int16{
	kmsg.OffsetCommit:   10,
	kmsg.OffsetFetch:    10,
	kmsg.JoinGroup:      9,
	kmsg.Heartbeat:      4,
	kmsg.LeaveGroup:     5,
	kmsg.SyncGroup:      5,
	kmsg.DescribeGroups: 6,
	kmsg.ListGroups:     5,
	kmsg.DeleteGroups:   3,
	kmsg.OffsetDelete:   0,
}

// OffsetsTopicConfigs are the topic configs Kafka gives __consumer_offsets
// (offsets.topic.segment.bytes, compacted, producer compression).
func OffsetsTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    "104857600",
	}
}
