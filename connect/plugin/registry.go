package plugin

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Kind is "source" or "sink", as /connector-plugins reports it.
type Kind string

// Plugin kinds.
const (
	Source Kind = "source"
	Sink   Kind = "sink"
)

// Plugin is a registered connector class.
type Plugin struct {
	Class   string   // canonical Java-style class name
	Aliases []string // other class names that resolve here (Confluent, Debezium, ...)
	Kind    Kind
	Version string
	New     func() Connector // returns a SourceConnector or SinkConnector
}

var (
	regMu   sync.RWMutex
	plugins = map[string]*Plugin{} // canonical class -> plugin
	names   = map[string]*Plugin{} // every accepted name -> plugin
)

// Register adds a plugin; connector packages call it from init. It panics
// on a duplicate name, a programming error.
func Register(p Plugin) {
	regMu.Lock()
	defer regMu.Unlock()
	pp := &p
	if _, dup := plugins[p.Class]; dup {
		panic("plugin: duplicate class " + p.Class)
	}
	plugins[p.Class] = pp
	for _, n := range append([]string{p.Class}, p.Aliases...) {
		for _, alias := range shortNames(n) {
			if _, dup := names[alias]; !dup {
				names[alias] = pp
			}
		}
	}
}

// shortNames are the names Kafka Connect accepts for a class: the full
// name, the simple name, and the simple name without "Connector".
func shortNames(class string) []string {
	out := []string{class}
	simple := class[strings.LastIndex(class, ".")+1:]
	if simple != class {
		out = append(out, simple)
	}
	if s := strings.TrimSuffix(simple, "Connector"); s != simple && s != "" {
		out = append(out, s)
	}
	return out
}

// Lookup resolves a class name or alias.
func Lookup(name string) (*Plugin, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	if p, ok := names[strings.TrimSpace(name)]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("Failed to find any class that implements Connector and which name matches %s", name)
}

// All lists the plugins by class name.
func All() []*Plugin {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Plugin, 0, len(plugins))
	for _, p := range plugins {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}
