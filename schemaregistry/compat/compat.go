// Package compat holds what every schema format's compatibility checker
// shares: the seven Confluent compatibility levels and how a level turns
// reader/writer checks against earlier versions into one verdict. Each format
// (compat/avro, compat/jsonschema) supplies the reader/writer check.
package compat

import (
	"fmt"
	"strings"
)

// Level is a Confluent compatibility level.
type Level string

// The seven levels.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// Levels lists every level.
var Levels = []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseLevel accepts a level name in any case.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToUpper(strings.TrimSpace(s)))
	for _, x := range Levels {
		if l == x {
			return l, nil
		}
	}
	return "", fmt.Errorf("invalid compatibility level %q: want one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE", s)
}

// Transitive reports whether the level checks every earlier version rather
// than the latest only.
func (l Level) Transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }

// backward: the new schema reads data written with the old one.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// forward: the old schema reads data written with the new one.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// ReadCheck reports why reader cannot read data written with writer; empty
// means it can.
type ReadCheck[S any] func(reader, writer S) []string

// Check applies level to a new schema and the earlier versions, oldest first,
// and returns every problem found, each prefixed by the version it concerns
// through label. Non-transitive levels look at the latest version only.
func Check[S any](level Level, check ReadCheck[S], next S, earlier []S, label func(i int) string) []string {
	if level == None || len(earlier) == 0 {
		return nil
	}
	from := len(earlier) - 1
	if level.Transitive() {
		from = 0
	}
	var out []string
	for i := len(earlier) - 1; i >= from; i-- {
		old := earlier[i]
		var probs []string
		if level.backward() {
			probs = append(probs, check(next, old)...)
		}
		if level.forward() {
			probs = append(probs, check(old, next)...)
		}
		if len(probs) > 0 {
			out = append(out, probs...)
			if label != nil {
				out = append(out, label(i))
			}
		}
	}
	return out
}
