// Package group is the broker's consumer group coordinator for Kafka's classic
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, OffsetDelete, ListGroups, DescribeGroups, DeleteGroups).
//
// The group state machine (state.go, join.go) is plain data and functions of
// the current time: it does no I/O, starts no goroutine and reads no clock.
// The Coordinator (coordinator.go) owns the edges: the per-group locks, the
// waiting JoinGroup and SyncGroup requests, the Store holding the
// __consumer_offsets partitions, and the timers driven by Run.
//
// State is kept in Kafka's exact __consumer_offsets record format
// (OffsetCommitKey/Value and GroupMetadataKey/Value), so Load rebuilds groups
// and committed offsets after a restart the way Kafka's GroupMetadataManager
// does.
//
// Wiring: New, then Load before serving (handlers answer
// COORDINATOR_LOAD_IN_PROGRESS until it returns), then Run for the timers.
// Handlers take the decoded request with its Version set and return the
// response of that version; MaxVersions lists what each implements. Pass a
// context that ends when the client's connection closes: JoinGroup and
// SyncGroup block until the rebalance step completes, as in Kafka, and
// WithClient adds the header's client id and host for DescribeGroups.
// FindCoordinator answers with this node for every group on a single node;
// PartitionFor says which __consumer_offsets partition holds a group.
//
// Lock order: Coordinator.mu may be held while acquiring a group's mu (only
// for short map operations); a group's mu is never held while acquiring
// Coordinator.mu. A group's mu is held across Store.Append for that group so
// that the log order of its records matches the order of its state changes.
package group
