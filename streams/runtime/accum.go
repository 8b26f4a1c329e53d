package runtime

import (
	"fmt"
	"sort"
)

// Null handling follows ksqlDB's aggregate functions: count(*) counts rows,
// count(x), sum, avg, min, max, count_distinct, topk, first and last skip
// nulls; collect keeps them (COLLECT_LIST); sum of no values is 0; avg,
// min, max, first and last of no values are null.
type acc interface {
	check(v any) error // whether add(v) would succeed; no state change
	add(v any)
	merge(later acc) // fold in an accumulator of a later session
	result() any
}

func newAcc(fn string, k int, star bool) acc {
	switch fn {
	case "count":
		return &countAcc{star: star}
	case "sum":
		return &sumAcc{}
	case "avg":
		return &avgAcc{}
	case "min":
		return &extAcc{max: false}
	case "max":
		return &extAcc{max: true}
	case "count_distinct":
		return &distinctAcc{seen: map[string]struct{}{}}
	case "topk":
		return &topkAcc{k: k}
	case "collect":
		return &collectAcc{}
	case "first":
		return &firstAcc{}
	case "last":
		return &lastAcc{}
	}
	panic("unknown aggregate " + fn) // plan only builds known functions
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float32:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

func needNumber(v any) error {
	if v == nil {
		return nil
	}
	if _, ok := toFloat(v); !ok {
		return fmt.Errorf("expected a number, got %T", v)
	}
	return nil
}

type countAcc struct {
	star bool
	n    int
}

func (a *countAcc) check(any) error { return nil }
func (a *countAcc) add(v any) {
	if a.star || v != nil {
		a.n++
	}
}
func (a *countAcc) merge(o acc) { a.n += o.(*countAcc).n }
func (a *countAcc) result() any { return a.n }

type sumAcc struct{ s float64 }

func (a *sumAcc) check(v any) error { return needNumber(v) }
func (a *sumAcc) add(v any) {
	if f, ok := toFloat(v); ok {
		a.s += f
	}
}
func (a *sumAcc) merge(o acc) { a.s += o.(*sumAcc).s }
func (a *sumAcc) result() any { return a.s }

type avgAcc struct {
	s float64
	n int
}

func (a *avgAcc) check(v any) error { return needNumber(v) }
func (a *avgAcc) add(v any) {
	if f, ok := toFloat(v); ok {
		a.s += f
		a.n++
	}
}
func (a *avgAcc) merge(o acc) { b := o.(*avgAcc); a.s += b.s; a.n += b.n }
func (a *avgAcc) result() any {
	if a.n == 0 {
		return nil
	}
	return a.s / float64(a.n)
}

// extAcc is min or max over numbers or strings (not both).
type extAcc struct {
	max bool
	v   any
}

func (a *extAcc) check(v any) error {
	if v == nil {
		return nil
	}
	_, num := toFloat(v)
	_, str := v.(string)
	if !num && !str {
		return fmt.Errorf("expected a number or string, got %T", v)
	}
	if a.v != nil {
		_, curNum := toFloat(a.v)
		if curNum != num {
			return fmt.Errorf("cannot compare %T with %T", v, a.v)
		}
	}
	return nil
}

func (a *extAcc) add(v any) {
	if v == nil {
		return
	}
	if a.v == nil || a.better(v, a.v) {
		a.v = v
	}
}

func (a *extAcc) better(x, y any) bool {
	var less bool
	if xf, ok := toFloat(x); ok {
		yf, _ := toFloat(y)
		if xf == yf {
			return false
		}
		less = xf < yf
	} else {
		xs, ys := x.(string), y.(string)
		if xs == ys {
			return false
		}
		less = xs < ys
	}
	return less != a.max
}

func (a *extAcc) merge(o acc) {
	if b := o.(*extAcc); b.v != nil && a.check(b.v) == nil {
		a.add(b.v)
	}
}
func (a *extAcc) result() any { return a.v }

type distinctAcc struct{ seen map[string]struct{} }

func (a *distinctAcc) check(any) error { return nil }
func (a *distinctAcc) add(v any) {
	if v != nil {
		a.seen[KeyString(v)] = struct{}{}
	}
}
func (a *distinctAcc) merge(o acc) {
	for k := range o.(*distinctAcc).seen {
		a.seen[k] = struct{}{}
	}
}
func (a *distinctAcc) result() any { return len(a.seen) }

// topkAcc keeps the k largest numbers, largest first (ksqlDB TOPK).
type topkAcc struct {
	k    int
	vals []float64
}

func (a *topkAcc) check(v any) error { return needNumber(v) }
func (a *topkAcc) add(v any) {
	f, ok := toFloat(v)
	if !ok {
		return
	}
	i := sort.Search(len(a.vals), func(i int) bool { return a.vals[i] < f })
	if i >= a.k {
		return
	}
	a.vals = append(a.vals, 0)
	copy(a.vals[i+1:], a.vals[i:])
	a.vals[i] = f
	if len(a.vals) > a.k {
		a.vals = a.vals[:a.k]
	}
}
func (a *topkAcc) merge(o acc) {
	for _, f := range o.(*topkAcc).vals {
		a.add(f)
	}
}
func (a *topkAcc) result() any {
	out := make([]any, len(a.vals))
	for i, f := range a.vals {
		out[i] = f
	}
	return out
}

type collectAcc struct{ vals []any }

func (a *collectAcc) check(any) error { return nil }
func (a *collectAcc) add(v any)       { a.vals = append(a.vals, v) }
func (a *collectAcc) merge(o acc)     { a.vals = append(a.vals, o.(*collectAcc).vals...) }
func (a *collectAcc) result() any     { return append([]any{}, a.vals...) }

type firstAcc struct{ v any }

func (a *firstAcc) check(any) error { return nil }
func (a *firstAcc) add(v any) {
	if a.v == nil {
		a.v = v
	}
}
func (a *firstAcc) merge(o acc) { a.add(o.(*firstAcc).v) }
func (a *firstAcc) result() any { return a.v }

type lastAcc struct{ v any }

func (a *lastAcc) check(any) error { return nil }
func (a *lastAcc) add(v any) {
	if v != nil {
		a.v = v
	}
}
func (a *lastAcc) merge(o acc) { a.add(o.(*lastAcc).v) }
func (a *lastAcc) result() any { return a.v }
