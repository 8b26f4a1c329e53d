package group

import (
	"fmt"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the name of the compacted topic holding group state.
const OffsetsTopic = "__consumer_offsets"

// Record versions Kafka 3.x writes: offset keys v1, group keys v2, offset
// values v3 (v1 when the commit carries an explicit expire timestamp), group
// values v3 (with static member instance ids).
const (
	offsetKeyVersion        = 1
	groupKeyVersion         = 2
	offsetValueVersion      = 3
	offsetValueExpireFormat = 1
	groupValueVersion       = 3
)

// javaStringHashCode is Java's String.hashCode over UTF-16 code units, so a
// group maps to the same __consumer_offsets partition as on Kafka.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// partitionFor is Kafka's Utils.abs(hashCode) % partitions; Utils.abs maps
// MinInt32 to 0.
func partitionFor(group string, partitions int32) int32 {
	h := javaStringHashCode(group)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func offsetValue(o committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitTime
	if o.expireTime >= 0 {
		v.Version = offsetValueExpireFormat
		v.ExpireTimestamp = o.expireTime
	}
	return v.AppendTo(nil)
}

// recordKind tells what a __consumer_offsets key holds; keys of other
// versions (Kafka 4's consumer-group records, ...) are not ours and ignored.
type recordKind int

const (
	kindUnknown recordKind = iota
	kindOffset
	kindGroup
)

func keyKind(key []byte) recordKind {
	if len(key) < 2 {
		return kindUnknown
	}
	switch int16(key[0])<<8 | int16(key[1]) {
	case 0, 1:
		return kindOffset
	case 2:
		return kindGroup
	}
	return kindUnknown
}

func decodeOffsetValue(b []byte) (committed, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil {
		return committed{}, fmt.Errorf("offset commit value: %w", err)
	}
	o := committed{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp, expireTime: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireTime = v.ExpireTimestamp
	}
	return o, nil
}
