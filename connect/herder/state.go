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
	restarts   int // restart requests seen, to notice new ones
}

func newConfigState() *configState { return &configState{connectors: map[string]*connectorState{}} }

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
