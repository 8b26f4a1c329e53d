package herder

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Target states as Kafka Connect writes them in target-state-<c>.
const (
	TargetStarted = "STARTED"
	TargetPaused  = "PAUSED"
	TargetStopped = "STOPPED"
)

// connectorState is one connector as the config topic describes it.
type connectorState struct {
	config  map[string]string
	target  string
	tasks   []map[string]string       // committed task configs
	pending map[int]map[string]string // task-<c>-<n> seen, awaiting commit-<c>
}

// configState is the fold of the connect-configs topic. It is plain data:
// apply never does I/O, so it is tested without Kafka.
type configState struct {
	connectors map[string]*connectorState
	restarts   int                   // restart requests seen, to notice new ones
	restartReq map[string]restartReq // latest restart request per connector
}

// restartReq is a restart-connector-<c> record; seq orders them.
type restartReq struct {
	seq          int
	includeTasks bool
	onlyFailed   bool
}

func newConfigState() *configState {
	return &configState{connectors: map[string]*connectorState{}, restartReq: map[string]restartReq{}}
}

// Value shapes of Kafka Connect's config records.
type (
	propsValue struct {
		Properties map[string]string `json:"properties"`
	}
	commitValue struct {
		Tasks int `json:"tasks"`
	}
	targetValue struct {
		State   string `json:"state"`
		StateV2 string `json:"state.v2,omitempty"`
	}
)

// apply folds one record into the state and reports whether it changed
// what workers should run.
func (s *configState) apply(key string, value []byte) bool {
	get := func(name string) *connectorState {
		c := s.connectors[name]
		if c == nil {
			c = &connectorState{target: TargetStarted, pending: map[int]map[string]string{}}
			s.connectors[name] = c
		}
		return c
	}
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		if value == nil {
			_, had := s.connectors[name]
			delete(s.connectors, name)
			return had
		}
		var v propsValue
		if json.Unmarshal(value, &v) != nil || v.Properties == nil {
			return false
		}
		get(name).config = v.Properties
		return true
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		c := s.connectors[name]
		if c == nil || value == nil {
			return false
		}
		var v targetValue
		if json.Unmarshal(value, &v) != nil {
			return false
		}
		st := v.State
		if v.StateV2 != "" {
			st = v.StateV2
		}
		c.target = st
		return true
	case strings.HasPrefix(key, "task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "task-"))
		if !ok || value == nil {
			return false
		}
		var v propsValue
		if json.Unmarshal(value, &v) != nil {
			return false
		}
		get(name).pending[n] = v.Properties
		return false
	case strings.HasPrefix(key, "commit-"):
		name := strings.TrimPrefix(key, "commit-")
		c := s.connectors[name]
		if c == nil || value == nil {
			return false
		}
		var v commitValue
		if json.Unmarshal(value, &v) != nil {
			return false
		}
		tasks := make([]map[string]string, 0, v.Tasks)
		for i := 0; i < v.Tasks; i++ {
			tasks = append(tasks, c.pending[i])
		}
		c.tasks = tasks
		c.pending = map[int]map[string]string{}
		return true
	case strings.HasPrefix(key, "restart-connector-"):
		s.restarts++
		var v struct {
			IncludeTasks bool `json:"include-tasks"`
			OnlyFailed   bool `json:"only-failed"`
		}
		_ = json.Unmarshal(value, &v)
		s.restartReq[strings.TrimPrefix(key, "restart-connector-")] = restartReq{seq: s.restarts, includeTasks: v.IncludeTasks, onlyFailed: v.OnlyFailed}
		return true
	}
	return false
}

// splitTaskKey splits "<c>-<n>" at the last dash.
func splitTaskKey(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, false
	}
	return s[:i], n, true
}

// names lists connectors in order.
func (s *configState) names() []string {
	out := make([]string, 0, len(s.connectors))
	for n, c := range s.connectors {
		if c.config != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Assignment is what the group leader gives each worker.
type Assignment struct {
	Leader       string   `json:"leader"`
	LeaderURL    string   `json:"leader_url"`
	ConfigOffset int64    `json:"config_offset"`
	Connectors   []string `json:"connectors"`
	Tasks        []string `json:"tasks"` // "<c>-<n>"
	// Revoked lists what this member ran and must give up (cooperative
	// protocol): it stops them and rejoins, so the next generation can
	// hand them to another member.
	Revoked []string `json:"revoked,omitempty"`
}

// member is a group member as the cooperative leader sees it: what it
// runs now (from its join metadata).
type member struct {
	id    string
	owned map[string]bool // connector names and "<c>-<n>" task keys
}

// assignCooperative is incremental cooperative assignment (as KIP-415):
// members keep what they run; items nobody runs go to the least loaded
// members; a member above its fair share (floor or ceiling of items per
// member, connectors and tasks counted apart) gives up the excess, which
// is handed out only in the next generation, after it stopped them. A
// member leaving frees its items at once (no scheduled delay).
func assignCooperative(s *configState, members []member) map[string]*Assignment {
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	out := map[string]*Assignment{}
	for _, m := range members {
		out[m.id] = &Assignment{Connectors: []string{}, Tasks: []string{}}
	}
	if len(members) == 0 {
		return out
	}
	var conns, tasks []string
	for _, n := range s.names() {
		conns = append(conns, n)
		for t := range s.connectors[n].tasks {
			tasks = append(tasks, n+"-"+strconv.Itoa(t))
		}
	}
	for kind, items := range [][]string{conns, tasks} {
		keep := spread(items, members)
		for id, a := range keep {
			if kind == 0 {
				out[id].Connectors = a.kept
			} else {
				out[id].Tasks = a.kept
			}
			out[id].Revoked = append(out[id].Revoked, a.revoked...)
		}
	}
	return out
}

type share struct{ kept, revoked []string }

// spread assigns one kind of item (see assignCooperative).
func spread(items []string, members []member) map[string]*share {
	res := map[string]*share{}
	owner := map[string]string{}
	cur := map[string][]string{}
	for _, m := range members {
		res[m.id] = &share{kept: []string{}}
	}
	for _, it := range items {
		for _, m := range members { // sorted: the first claimant keeps a doubly owned item
			if m.owned[it] {
				owner[it] = m.id
				cur[m.id] = append(cur[m.id], it)
				break
			}
		}
	}
	// Fair shares: the members running the most get the larger ones, so
	// the fewest items move.
	order := make([]string, len(members))
	for i, m := range members {
		order[i] = m.id
	}
	sort.SliceStable(order, func(i, j int) bool { return len(cur[order[i]]) > len(cur[order[j]]) })
	base, extra := len(items)/len(members), len(items)%len(members)
	want := map[string]int{}
	for i, id := range order {
		want[id] = base
		if i < extra {
			want[id]++
		}
	}
	load := map[string]int{}
	for _, id := range order {
		have := cur[id]
		if n := want[id]; len(have) > n {
			res[id].revoked = append(res[id].revoked, have[n:]...)
			have = have[:n]
		}
		res[id].kept = append(res[id].kept, have...)
		load[id] = len(have)
	}
	var free []string
	for _, it := range items {
		if _, owned := owner[it]; !owned {
			free = append(free, it)
		}
	}
	for _, it := range free {
		// The member furthest below its share, then the least loaded.
		best := ""
		for _, id := range order {
			if best == "" || want[id]-load[id] > want[best]-load[best] ||
				(want[id]-load[id] == want[best]-load[best] && load[id] < load[best]) {
				best = id
			}
		}
		res[best].kept = append(res[best].kept, it)
		load[best]++
	}
	for _, r := range res {
		sort.Strings(r.kept)
	}
	return res
}

// assign spreads connectors and tasks round-robin over the members (sorted
// by id, so every leader computes the same thing). Eager: every rebalance
// computes the whole assignment from scratch.
func assign(s *configState, members []string) map[string]*Assignment {
	sort.Strings(members)
	out := map[string]*Assignment{}
	for _, m := range members {
		out[m] = &Assignment{Connectors: []string{}, Tasks: []string{}}
	}
	if len(members) == 0 {
		return out
	}
	i := 0
	for _, n := range s.names() {
		out[members[i%len(members)]].Connectors = append(out[members[i%len(members)]].Connectors, n)
		i++
	}
	for _, n := range s.names() {
		for t := range s.connectors[n].tasks {
			m := members[i%len(members)]
			out[m].Tasks = append(out[m].Tasks, n+"-"+strconv.Itoa(t))
			i++
		}
	}
	return out
}
