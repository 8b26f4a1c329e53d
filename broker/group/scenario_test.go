package group

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata scenario files with the actual output")

// TestScenarios drives the pure group state machine from testdata/*.txt, in
// the style of etcd-io/raft's datadriven tests: each block is a command, a
// "----" line and the expected trace. Run with -rewrite to regenerate.
//
// Commands (durations like 10s; members are named by their ids):
//
//	join new=ID [require] [instance=I] [protocols=range,sticky] [meta=x] [session=10s] [rebalance=60s]
//	join m=ID [instance=I] [protocols=...] [meta=x]
//	sync m=ID gen=N [assign=a:P0,b:P1] [fail]
//	heartbeat m=ID gen=N [instance=I]
//	leave m=ID | leave instance=I
//	tick DURATION
//	state
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScenario(t, f) })
	}
}

type scenario struct {
	g   *group
	now time.Time
	p   params
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{now: time.Unix(0, 0), p: params{minSession: time.Second, maxSession: time.Hour}}
	var out strings.Builder
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		if strings.HasPrefix(line, "config ") {
			s.configure(t, line)
			out.WriteString(line + "\n")
			continue
		}
		cmd := line
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command without ----", path, i+1)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got := s.run(t, cmd)
		if !*rewrite && strings.Join(want, "\n") != got {
			t.Errorf("%s: %s\n--- want\n%s\n--- got\n%s", path, cmd, strings.Join(want, "\n"), got)
		}
		out.WriteString(cmd + "\n----\n" + got + "\n")
		if i < len(lines) {
			out.WriteString("\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *scenario) configure(t *testing.T, line string) {
	for k, v := range parseArgs(strings.Fields(line)[1:]) {
		switch k {
		case "initial-delay":
			s.p.initialDelay = mustDur(t, v)
		default:
			t.Fatalf("unknown config %s", k)
		}
	}
}

func parseArgs(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func mustDur(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	return kerr.ErrorForCode(code).(*kerr.Error).Message
}

func (s *scenario) run(t *testing.T, cmd string) string {
	fields := strings.Fields(cmd)
	a := parseArgs(fields[1:])
	if s.g == nil {
		s.g = newGroup("g", &s.p, s.now)
	}
	g := s.g
	var out []string
	var instance *string
	if v, ok := a["instance"]; ok {
		instance = &v
	}
	gen := func() int32 {
		n, err := strconv.Atoi(a["gen"])
		if err != nil {
			t.Fatalf("%s: bad gen", cmd)
		}
		return int32(n)
	}
	finish := func(st *pendingStore) {
		if st == nil {
			return
		}
		code := int16(0)
		if _, ok := a["fail"]; ok {
			code = kerr.CoordinatorNotAvailable.Code
		}
		out = append(out, "store: "+describeRecord(st.rec)+" -> "+errName(code))
		st.done(s.now, code)
	}
	switch fields[0] {
	case "join":
		ja := joinArgs{
			memberID:         a["m"],
			instanceID:       instance,
			sessionTimeout:   10 * time.Second,
			rebalanceTimeout: 60 * time.Second,
			protocolType:     "consumer",
			newID:            a["new"],
		}
		_, ja.requireKnownID = a["require"]
		if v, ok := a["session"]; ok {
			ja.sessionTimeout = mustDur(t, v)
		}
		if v, ok := a["rebalance"]; ok {
			ja.rebalanceTimeout = mustDur(t, v)
		}
		protos := "range"
		if v, ok := a["protocols"]; ok {
			protos = v
		}
		for _, p := range strings.Split(protos, ",") {
			ja.protocols = append(ja.protocols, protocol{name: p, metadata: []byte(a["meta"])})
		}
		res, wait, st := g.join(s.now, ja)
		if wait {
			out = append(out, res.memberID+": waits")
		} else {
			out = append(out, describeJoin(res))
		}
		finish(st)
	case "sync":
		sa := syncArgs{memberID: a["m"], instanceID: instance, generation: gen(), assignments: map[string][]byte{}}
		if v := a["assign"]; v != "" {
			for _, kv := range strings.Split(v, ",") {
				k, val, _ := strings.Cut(kv, ":")
				sa.assignments[k] = []byte(val)
			}
		}
		res, wait, st := g.sync(s.now, sa)
		if wait {
			out = append(out, sa.memberID+": waits")
		} else {
			out = append(out, describeSync(sa.memberID, res))
		}
		finish(st)
	case "heartbeat":
		out = append(out, a["m"]+": "+errName(g.heartbeat(s.now, a["m"], instance, gen())))
	case "leave":
		out = append(out, "leave: "+errName(g.leave(s.now, a["m"], instance)))
	case "tick":
		s.now = s.now.Add(mustDur(t, fields[1]))
		g.tick(s.now)
		out = append(out, fmt.Sprintf("now %s", s.now.Sub(time.Unix(0, 0))))
	case "state":
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	fx := g.fx
	g.fx = effects{}
	for _, d := range fx.joins {
		out = append(out, "-> "+describeJoin(d.res))
	}
	for _, d := range fx.syncs {
		out = append(out, "-> "+describeSync(d.memberID, d.res))
	}
	for _, r := range fx.records {
		out = append(out, "write: "+describeRecord(r))
	}
	out = append(out, describeGroup(g))
	return strings.Join(out, "\n")
}

func describeJoin(r joinResult) string {
	if r.err != 0 {
		return fmt.Sprintf("%s: join %s", orDash(r.memberID), errName(r.err))
	}
	var ms []string
	for _, m := range r.members {
		ms = append(ms, m.MemberID)
	}
	s := fmt.Sprintf("%s: joined gen=%d protocol=%s leader=%s", r.memberID, r.generation, deref(r.protocol), r.leader)
	if ms != nil {
		s += " members=[" + strings.Join(ms, " ") + "]"
	}
	return s
}

func describeSync(id string, r syncResult) string {
	if r.err != 0 {
		return fmt.Sprintf("%s: sync %s", id, errName(r.err))
	}
	return fmt.Sprintf("%s: assigned %q", id, r.assignment)
}

func describeRecord(r KV) string {
	var k kmsg.GroupMetadataKey
	if keyKind(r.Key) != kindGroup || k.ReadFrom(r.Key) != nil {
		return fmt.Sprintf("record %x", r.Key)
	}
	if r.Value == nil {
		return "group tombstone"
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return "bad group value: " + err.Error()
	}
	var ms []string
	for _, m := range v.Members {
		ms = append(ms, fmt.Sprintf("%s=%q", m.MemberID, m.Assignment))
	}
	return fmt.Sprintf("group gen=%d protocol=%s leader=%s members=[%s]", v.Generation, deref(v.Protocol), deref(v.Leader), strings.Join(ms, " "))
}

func describeGroup(g *group) string {
	var ms []string
	for _, m := range g.members {
		flags := ""
		if m.joined {
			flags += "J"
		}
		if m.syncing {
			flags += "S"
		}
		if m.instanceID != nil {
			flags += "@" + *m.instanceID
		}
		if flags != "" {
			flags = "(" + flags + ")"
		}
		ms = append(ms, m.id+flags)
	}
	var pend []string
	for id := range g.pending {
		pend = append(pend, id)
	}
	sort.Strings(pend)
	s := fmt.Sprintf("state=%s gen=%d leader=%s protocol=%s members=[%s]", g.state, g.generation, orDash(g.leader), orDash(g.protocol), strings.Join(ms, " "))
	if len(pend) > 0 {
		s += " pending=[" + strings.Join(pend, " ") + "]"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return orDash(*s)
}
