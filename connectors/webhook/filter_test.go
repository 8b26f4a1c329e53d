package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestPatterns(t *testing.T) {
	rec := func(v string) *record {
		return &record{topic: "t", partition: 2, offset: 9, ts: time.UnixMilli(1000), key: []byte("k1"), value: []byte(v)}
	}
	cases := []struct {
		pattern, value string
		want           bool
	}{
		{`{"value":{"type":["sensor"]}}`, `{"type":"sensor"}`, true},
		{`{"value":{"type":["sensor"]}}`, `{"type":"other"}`, false},
		{`{"value":{"type":["sensor","other"]}}`, `{"type":"other"}`, true},
		{`{"value":{"n":[{"numeric":[">",0,"<=",5]}]}}`, `{"n":5}`, true},
		{`{"value":{"n":[{"numeric":[">",0,"<=",5]}]}}`, `{"n":6}`, false},
		{`{"value":{"n":[3]}}`, `{"n":3.0}`, true},
		{`{"value":{"s":[{"prefix":"ab"}]}}`, `{"s":"abc"}`, true},
		{`{"value":{"s":[{"suffix":"bc"}]}}`, `{"s":"abc"}`, true},
		{`{"value":{"s":[{"equals-ignore-case":"ABC"}]}}`, `{"s":"abc"}`, true},
		{`{"value":{"s":[{"anything-but":["abc"]}]}}`, `{"s":"abc"}`, false},
		{`{"value":{"s":[{"anything-but":["abc"]}]}}`, `{"s":"x"}`, true},
		{`{"value":{"s":[{"anything-but":{"prefix":"a"}}]}}`, `{"s":"x"}`, true},
		{`{"value":{"s":[{"exists":true}]}}`, `{"t":1}`, false},
		{`{"value":{"s":[{"exists":false}]}}`, `{"t":1}`, true},
		{`{"value":{"s":[null]}}`, `{"s":null}`, true},
		{`{"value":{"s":[""]}}`, `{"s":""}`, true},
		{`{"value":{"tags":["b"]}}`, `{"tags":["a","b"]}`, true},
		{`{"value":{"a":{"b":["c"]}}}`, `{"a":{"b":"c"}}`, true},
		{`{"value":{"$or":[{"a":["1"]},{"b":["2"]}]}}`, `{"b":"2"}`, true},
		{`{"value":["plain"]}`, `plain`, true},
		{`{"topic":["t"],"partition":[2],"key":["k1"]}`, `{}`, true},
		{`{"value":{"type":["sensor"]}}`, `not json`, false},
	}
	for _, c := range cases {
		f, err := ParseFilters(`[{"pattern":` + quote(c.pattern) + `}]`)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := f.Match(rec(c.value)); got != c.want {
			t.Errorf("%s on %s = %v, want %v", c.pattern, c.value, got, c.want)
		}
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestBadFilters(t *testing.T) {
	for _, s := range []string{
		`{`, `[{"pattern":"{\"value\":\"x\"}"}]`, `[{"pattern":"{\"value\":{\"n\":[{\"numeric\":[\">\"]}]}}"}]`,
		`[{"pattern":"{\"value\":{\"n\":[{\"nope\":1}]}}"}]`, `[{"expression":"value +"}]`, `[{}]`,
		`[{"pattern":"{\"a\":[1]}","expression":"true"}]`, `[{"expression":"1"}]`,
	} {
		if _, err := ParseFilters(s); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
}

func TestExpressions(t *testing.T) {
	f, err := ParseFilters(`[{"expression":"value.amount > 100 && headers.src == 'web' && topic == 't'"}]`)
	if err != nil {
		t.Fatal(err)
	}
	r := &record{topic: "t", value: []byte(`{"amount":150}`)}
	r.headers = append(r.headers, struct {
		Key   string
		Value []byte
	}{"src", []byte("web")})
	if !f.Match(r) {
		t.Fatal("want a match")
	}
	r.value = []byte(`{"amount":5}`)
	if f.Match(r) {
		t.Fatal("want no match")
	}
	r.value = []byte(`"no object"`)
	if f.Match(r) {
		t.Fatal("an expression error is no match")
	}
}

func TestSignAndID(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	// The Standard Webhooks reference vector.
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
	if MessageID("a", "t", 0, 1, 2) != MessageID("a", "t", 0, 1, 2) || MessageID("a", "t", 0, 1, 2) == MessageID("a", "t", 0, 1, 3) {
		t.Fatal("message ids must be stable per range and differ between ranges")
	}
	for _, bad := range []string{"whsec_!!", "whsec_YWJj"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPartialFailure(t *testing.T) {
	recs := []*record{{offset: 10}, {offset: 11}, {offset: 12}}
	for body, want := range map[string]int{
		``: -1, `{}`: -1, `{"batchItemFailures":[]}`: -1, `{"batchItemFailures":[{"itemIdentifier":"12"},{"itemIdentifier":11}]}`: 1,
		`{"batchItemFailures":[{"itemIdentifier":"99"}]}`: 0, `{"batchItemFailures":[{"itemIdentifier":""}]}`: 0, `not json`: -1,
	} {
		if got := partialFailure([]byte(body), recs); got != want {
			t.Errorf("%s: %d, want %d", body, got, want)
		}
	}
}
