package herder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/connect/runtime"
)

// Sentinel errors the REST layer maps to status codes.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrBadInput = errors.New("bad request")
)

// ValidationError carries a failed validation result (400 with the result).
type ValidationError struct{ Result *ConfigInfos }

func (e *ValidationError) Error() string {
	var msgs []string
	for _, c := range e.Result.Configs {
		for _, m := range c.Value.Errors {
			msgs = append(msgs, c.Value.Name+": "+m)
		}
	}
	return fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):\n%s\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`", e.Result.ErrorCount, strings.Join(msgs, "\n"))
}

// TaskInfo is a task's id and config as GET /connectors/{c}/tasks shows it.
type TaskInfo struct {
	ID     TaskRef           `json:"id"`
	Config map[string]string `json:"config"`
}

// TaskRef is {"connector":..,"task":..}.
type TaskRef struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// ConnectorInfo is GET /connectors/{c}.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskRef         `json:"tasks"`
	Type   string            `json:"type"`
}

// StateInfo is one state in a status answer.
type StateInfo struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskState is a task's state with its id.
type TaskState struct {
	ID int `json:"id"`
	StateInfo
}

// ConnectorStatus is GET /connectors/{c}/status.
type ConnectorStatus struct {
	Name      string      `json:"name"`
	Connector StateInfo   `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
	Type      string      `json:"type"`
}

// Connectors lists connector names, sorted.
func (h *Herder) Connectors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state.names()
}

func typeOf(cfg map[string]string) string {
	p, err := plugin.Lookup(cfg["connector.class"])
	if err != nil {
		return "unknown"
	}
	return string(p.Kind)
}

// Info returns a connector's config and tasks.
func (h *Herder) Info(name string) (*ConnectorInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.state.connectors[name]
	if c == nil || c.config == nil {
		return nil, fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	info := &ConnectorInfo{Name: name, Config: copyMap(c.config), Tasks: []TaskRef{}, Type: typeOf(c.config)}
	for i := range c.tasks {
		info.Tasks = append(info.Tasks, TaskRef{Connector: name, Task: i})
	}
	return info, nil
}

// Tasks returns a connector's task configs.
func (h *Herder) Tasks(name string) ([]TaskInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.state.connectors[name]
	if c == nil || c.config == nil {
		return nil, fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	out := []TaskInfo{}
	for i, tc := range c.tasks {
		out = append(out, TaskInfo{ID: TaskRef{name, i}, Config: copyMap(tc)})
	}
	return out, nil
}

func (h *Herder) stateInfo(key string) StateInfo {
	s, ok := h.statuses[key]
	if !ok {
		return StateInfo{State: runtime.StateUnassigned}
	}
	si := StateInfo{State: s.State, WorkerID: s.WorkerID}
	if s.Trace != nil {
		si.Trace = *s.Trace
	}
	return si
}

// Status returns a connector's status from connect-status.
func (h *Herder) Status(name string) (*ConnectorStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.state.connectors[name]
	if c == nil || c.config == nil {
		return nil, fmt.Errorf("No status found for connector %s: %w", name, ErrNotFound)
	}
	st := &ConnectorStatus{Name: name, Connector: h.stateInfo("status-connector-" + name), Tasks: []TaskState{}, Type: typeOf(c.config)}
	if c.target != TargetStopped {
		for i := range c.tasks {
			st.Tasks = append(st.Tasks, TaskState{ID: i, StateInfo: h.stateInfo("status-task-" + name + "-" + strconv.Itoa(i))})
		}
	}
	return st, nil
}

// TaskStatus returns one task's status.
func (h *Herder) TaskStatus(name string, task int) (*TaskState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.state.connectors[name]
	if c == nil || c.config == nil || task < 0 || task >= len(c.tasks) {
		return nil, fmt.Errorf("No status found for task %s-%d: %w", name, task, ErrNotFound)
	}
	return &TaskState{ID: task, StateInfo: h.stateInfo("status-task-" + name + "-" + strconv.Itoa(task))}, nil
}

func (h *Herder) exists(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.state.connectors[name]
	return c != nil && c.config != nil
}

// Put creates or replaces a connector's config; created says which. With
// failIfExists it refuses an existing connector (POST /connectors).
func (h *Herder) Put(ctx context.Context, name string, cfg map[string]string, failIfExists bool, initialState string) (created bool, err error) {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\\") {
		return false, fmt.Errorf("connector name %q is invalid: %w", name, ErrBadInput)
	}
	cfg = copyMap(cfg)
	if n, ok := cfg["name"]; ok && n != name {
		return false, fmt.Errorf("Connector name configuration (%s) doesn't match connector name in the URL (%s): %w", n, name, ErrBadInput)
	}
	cfg["name"] = name
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	existed := h.exists(name)
	if existed && failIfExists {
		return false, fmt.Errorf("Connector %s already exists: %w", name, ErrExists)
	}
	res := Validate(cfg)
	if res.ErrorCount > 0 {
		return false, &ValidationError{Result: res}
	}
	v, _ := json.Marshal(propsValue{Properties: cfg})
	recs := []*kgo.Record{{Key: []byte("connector-" + name), Value: v}}
	if !existed {
		st := TargetStarted
		switch strings.ToUpper(initialState) {
		case "", "RUNNING":
		case "PAUSED":
			st = TargetPaused
		case "STOPPED":
			st = TargetStopped
		default:
			return false, fmt.Errorf("initial_state %q must be RUNNING, PAUSED or STOPPED: %w", initialState, ErrBadInput)
		}
		recs = append(recs, targetRecord(name, st))
	}
	return !existed, h.writeConfig(ctx, recs...)
}

func targetRecord(name, state string) *kgo.Record {
	tv := targetValue{State: state}
	if state == TargetStopped {
		// Kafka writes PAUSED for old workers and the real state in state.v2.
		tv = targetValue{State: TargetPaused, StateV2: TargetStopped}
	}
	v, _ := json.Marshal(tv)
	return &kgo.Record{Key: []byte("target-state-" + name), Value: v}
}

// SetTarget pauses, resumes or stops a connector.
func (h *Herder) SetTarget(ctx context.Context, name, state string) error {
	if !h.exists(name) {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	return h.writeConfig(ctx, targetRecord(name, state))
}

// Delete removes a connector: tombstones for its config, target state,
// task configs, commit and statuses.
func (h *Herder) Delete(ctx context.Context, name string) error {
	h.mu.Lock()
	c := h.state.connectors[name]
	var ntasks int
	if c != nil {
		ntasks = len(c.tasks)
	}
	h.mu.Unlock()
	if c == nil || c.config == nil {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	if err := h.writeConfig(ctx, &kgo.Record{Key: []byte("connector-" + name)}, &kgo.Record{Key: []byte("target-state-" + name)}); err != nil {
		return err
	}
	// As Kafka Connect: a deleted connector's active topics go with it.
	if err := h.deleteTopics(ctx, name); err != nil {
		return err
	}
	recs := []*kgo.Record{{Topic: h.cfg.StatusTopic, Key: []byte("status-connector-" + name)}}
	for i := 0; i < ntasks; i++ {
		recs = append(recs, &kgo.Record{Topic: h.cfg.StatusTopic, Key: []byte("status-task-" + name + "-" + strconv.Itoa(i))})
	}
	return h.cl.ProduceSync(ctx, recs...).FirstErr()
}

// Restart asks the cluster to restart a connector (and its tasks): Kafka
// Connect's restart-connector-<c> record. With eager assignment every worker
// restarts what it runs, which includes what was asked.
func (h *Herder) Restart(ctx context.Context, name string, includeTasks, onlyFailed bool) error {
	if !h.exists(name) {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	v, _ := json.Marshal(map[string]bool{"include-tasks": includeTasks, "only-failed": onlyFailed})
	return h.writeConfig(ctx, &kgo.Record{Key: []byte("restart-connector-" + name), Value: v})
}

// ErrNotOwner says a task runs on another worker (or on none).
var ErrNotOwner = errors.New("task is not running on this worker")

// RestartTask restarts one task if this worker runs it, with its current
// configs, as Kafka Connect's worker owning a task does; otherwise it
// returns ErrNotOwner and the owner's REST URL ("" if unknown), for the
// REST layer to forward to.
func (h *Herder) RestartTask(ctx context.Context, name string, task int) (ownerURL string, err error) {
	if _, err := h.TaskStatus(name, task); err != nil {
		return "", fmt.Errorf("Task %s-%d not found: %w", name, task, ErrNotFound)
	}
	id := runtime.TaskID{Connector: name, Task: task}
	h.mu.Lock()
	_, mine := h.running["task:"+id.String()]
	c := h.state.connectors[name]
	var connCfg, taskCfg map[string]string
	target := ""
	if c != nil && c.config != nil && task < len(c.tasks) {
		connCfg, taskCfg, target = copyMap(c.config), copyMap(c.tasks[task]), c.target
	}
	owner := h.statuses["status-task-"+id.String()].WorkerID
	h.mu.Unlock()
	if !mine || connCfg == nil {
		if owner == "" || owner == h.cfg.WorkerID {
			return "", ErrNotOwner
		}
		return "http://" + owner, ErrNotOwner
	}
	if target != TargetStarted {
		return "", nil // paused or stopped: nothing runs to restart
	}
	return "", h.rt.StartTask(id, connCfg, taskCfg)
}

// ConfigInfos is the /config/validate answer, Kafka Connect's shape.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo pairs a definition with a value.
type ConfigInfo struct {
	Definition ConfigKeyInfo      `json:"definition"`
	Value      plugin.ConfigValue `json:"value"`
}

// ConfigKeyInfo is a key's definition as Kafka Connect shows it.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
	Order         int      `json:"order"`
}

// commonDef are the keys every connector has (Kafka's "Common" group).
var commonDef = plugin.ConfigDef{
	{Name: "name", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Globally unique name to use for this connector.", Group: "Common"},
	{Name: "connector.class", Type: plugin.TypeString, Required: true, Importance: plugin.High, Documentation: "Name or alias of the class for this connector.", Group: "Common"},
	{Name: "tasks.max", Type: plugin.TypeInt, Default: "1", Validator: plugin.AtLeast(1), Importance: plugin.High, Documentation: "Maximum number of tasks to use for this connector.", Group: "Common"},
	{Name: "key.converter", Type: plugin.TypeClass, Importance: plugin.Low, Documentation: "Converter class for keys.", Group: "Common"},
	{Name: "value.converter", Type: plugin.TypeClass, Importance: plugin.Low, Documentation: "Converter class for values.", Group: "Common"},
	{Name: "transforms", Type: plugin.TypeList, Importance: plugin.Low, Documentation: "Aliases for the transformations to be applied to records.", Group: "Transforms"},
	{Name: "predicates", Type: plugin.TypeList, Importance: plugin.Low, Documentation: "Aliases for the predicates used by transformations.", Group: "Predicates"},
	{Name: "errors.tolerance", Type: plugin.TypeString, Default: "none", Validator: plugin.OneOf("none", "all"), Importance: plugin.Medium, Documentation: "Behavior for tolerating errors during connector operation.", Group: "Error Handling"},
	{Name: "errors.deadletterqueue.topic.name", Type: plugin.TypeString, Importance: plugin.Medium, Documentation: "Dead letter queue topic for records that failed (sink connectors).", Group: "Error Handling"},
}

var sinkDef = plugin.ConfigDef{
	{Name: "topics", Type: plugin.TypeList, Importance: plugin.High, Documentation: "List of topics to consume, separated by commas.", Group: "Common"},
	{Name: "topics.regex", Type: plugin.TypeString, Validator: plugin.Regex(), Importance: plugin.High, Documentation: "Regular expression giving topics to consume.", Group: "Common"},
}

// Validate checks a connector config as PUT /connector-plugins/{p}/config/validate does.
func Validate(cfg map[string]string) *ConfigInfos {
	res := &ConfigInfos{Groups: []string{}, Configs: []ConfigInfo{}}
	defs := append(plugin.ConfigDef{}, commonDef...)
	p, perr := plugin.Lookup(cfg["connector.class"])
	if perr == nil {
		res.Name = p.Class
		if p.Kind == plugin.Sink {
			defs = append(defs, sinkDef...)
		}
		for _, k := range p.New().ConfigDef() {
			if k.Group == "" {
				k.Group = p.Class[strings.LastIndex(p.Class, ".")+1:]
			}
			defs = append(defs, k)
		}
	}
	vals, _ := defs.Validate(cfg)
	idx := map[string]int{}
	groups := map[string]bool{}
	for i, k := range defs {
		var dv *string
		if !k.Required {
			d := k.Default
			dv = &d
		}
		res.Configs = append(res.Configs, ConfigInfo{Definition: ConfigKeyInfo{Name: k.Name, Type: string(k.Type), Required: k.Required, DefaultValue: dv,
			Importance: string(k.Importance), Documentation: k.Documentation, Group: k.Group, Width: "NONE", DisplayName: k.Name, Dependents: []string{}, Order: i + 1}, Value: vals[i]})
		idx[k.Name] = i
		if !groups[k.Group] && k.Group != "" {
			groups[k.Group] = true
			res.Groups = append(res.Groups, k.Group)
		}
	}
	addErr := func(key, msg string) {
		i, ok := idx[key]
		if !ok {
			v := cfg[key]
			res.Configs = append(res.Configs, ConfigInfo{Definition: ConfigKeyInfo{Name: key, Type: "STRING", Importance: "LOW", Width: "NONE", DisplayName: key, Dependents: []string{}, Order: -1},
				Value: plugin.ConfigValue{Name: key, Value: &v, RecommendedValues: []string{}, Errors: []string{}, Visible: true}})
			i = len(res.Configs) - 1
			idx[key] = i
		}
		res.Configs[i].Value.Errors = append(res.Configs[i].Value.Errors, msg)
	}
	if perr != nil && cfg["connector.class"] != "" {
		addErr("connector.class", perr.Error())
	}
	if perr == nil && p.Kind == plugin.Sink {
		hasTopics, hasRegex := len(plugin.SplitList(cfg["topics"])) > 0, strings.TrimSpace(cfg["topics.regex"]) != ""
		if hasTopics == hasRegex {
			addErr("topics", "Must configure one of topics or topics.regex")
		}
	}
	_, serrs := runtime.BuildSettings(cfg)
	keys := make([]string, 0, len(serrs))
	for k := range serrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "errors.tolerance" {
			continue // already reported by its definition
		}
		addErr(k, serrs[k])
	}
	for _, c := range res.Configs {
		res.ErrorCount += len(c.Value.Errors)
	}
	return res
}

// PluginInfo is one entry of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

// Plugins lists the connector plugins.
func Plugins() []PluginInfo {
	var out []PluginInfo
	for _, p := range plugin.All() {
		out = append(out, PluginInfo{Class: p.Class, Type: string(p.Kind), Version: p.Version})
	}
	return out
}

// Leader says whether this worker leads the group and, if not, the
// leader's REST URL ("" while unknown, e.g. before the first assignment).
func (h *Herder) Leader() (self bool, url string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.assigned == nil {
		return false, ""
	}
	return h.isLeader, h.assigned.LeaderURL
}
