package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func testGroupCommands(t *testing.T, bs string) {
	produceEvents(t, bs, "ledger")
	if got := mustRun(t, bs, "", "consume", "ledger", "--group", "g1", "--from-beginning", "-n", "3"); got != "v1\nv2\nv3\n" {
		t.Fatalf("group consume = %q", got)
	}
	// The group resumes where it committed: nothing new is left.
	if got := mustRun(t, bs, "", "consume", "ledger", "--group", "g1", "--from-beginning", "--timeout", "1s"); got != "" {
		t.Errorf("second group consume = %q, want nothing", got)
	}

	g := describeGroupJSON(t, bs, "g1")
	if len(g.Offsets) != 1 || g.Offsets[0].Committed != 3 || g.Offsets[0].LogEnd != 3 || g.Offsets[0].Lag != 0 || g.TotalLag != 0 {
		t.Fatalf("after consume: %+v", g)
	}
	if tab := mustRun(t, bs, "", "group", "describe", "g1"); !strings.Contains(tab, "COMMITTED") || !strings.Contains(tab, "ledger") {
		t.Errorf("table describe:\n%s", tab)
	}

	var groups []groupRow
	mustJSON(t, mustRun(t, bs, "", "group", "list", "-o", "json"), &groups)
	if !hasGroup(groups, "g1") {
		t.Errorf("group list %+v lacks g1", groups)
	}

	var res resetResult
	mustJSON(t, mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-earliest", "--dry-run", "-o", "json"), &res)
	if !res.DryRun || len(res.Offsets) != 1 || res.Offsets[0] != (offsetReset{"ledger", 0, 3, 0}) {
		t.Errorf("dry run = %+v", res)
	}
	if g := describeGroupJSON(t, bs, "g1"); g.Offsets[0].Committed != 3 {
		t.Errorf("dry run committed: %+v", g.Offsets)
	}
	mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-earliest")
	g = describeGroupJSON(t, bs, "g1")
	if len(g.Offsets) != 1 || g.Offsets[0].Committed != 0 || g.Offsets[0].Lag != 3 || g.TotalLag != 3 {
		t.Fatalf("after reset: %+v", g)
	}
	mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-offset", "2")
	if g := describeGroupJSON(t, bs, "g1"); g.Offsets[0].Committed != 2 || g.Offsets[0].Lag != 1 {
		t.Errorf("after --to-offset 2: %+v", g.Offsets)
	}
	mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-timestamp", "0")
	if g := describeGroupJSON(t, bs, "g1"); g.Offsets[0].Committed != 0 {
		t.Errorf("after --to-timestamp 0: %+v", g.Offsets)
	}
	mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-latest")
	if g := describeGroupJSON(t, bs, "g1"); g.Offsets[0].Committed != 3 || g.Offsets[0].Lag != 0 {
		t.Errorf("after --to-latest: %+v", g.Offsets)
	}
	mustRun(t, bs, "", "group", "reset-offsets", "g1", "--topic", "ledger", "--to-offset", "2")
	if got := mustRun(t, bs, "", "consume", "ledger", "--group", "g1", "-n", "1"); got != "v3\n" {
		t.Errorf("consume after reset = %q", got)
	}

	testResetRefusedWhileActive(t, bs)

	mustRun(t, bs, "", "group", "delete", "g1")
	groups = nil
	mustJSON(t, mustRun(t, bs, "", "group", "list", "-o", "json"), &groups)
	if hasGroup(groups, "g1") {
		t.Errorf("g1 listed after delete: %+v", groups)
	}
	if code, _, errs := runCLI(t, context.Background(), bs, "", "group", "describe", "g1"); code != 1 || strings.Count(errs, "\n") != 1 {
		t.Errorf("describe deleted group: exit %d stderr %q", code, errs)
	}
	mustRun(t, bs, "", "topic", "delete", "ledger")
}

// testResetRefusedWhileActive keeps a group consumer running and checks that
// reset-offsets refuses to move its offsets.
func testResetRefusedWhileActive(t *testing.T, bs string) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		exitCode int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		exitCode, _, _ = runCLI(t, ctx, bs, "", "consume", "ledger", "--group", "g2")
	}()
	defer func() {
		// An interrupt (here: cancel) is a normal way to stop consuming.
		cancel()
		wg.Wait()
		if exitCode != 0 {
			t.Errorf("interrupted consume exited %d, want 0", exitCode)
		}
	}()
	// Bounded so that a broker that never settles the group fails the test
	// rather than hanging it.
	for i := 0; ; i++ {
		if i == 1200 {
			t.Fatal("group g2 never became Stable with one member")
		}
		var g groupDescription
		code, out, _ := runCLI(t, context.Background(), bs, "", "group", "describe", "g2", "-o", "json")
		if code == 0 {
			mustJSON(t, out, &g)
			if g.State == "Stable" && len(g.Members) == 1 {
				if len(g.Members[0].Assignment) != 1 || g.Members[0].Assignment[0].Topic != "ledger" {
					t.Errorf("member assignment %+v", g.Members[0])
				}
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out, errs := runCLI(t, context.Background(), bs, "", "group", "reset-offsets", "g2", "--topic", "ledger", "--to-earliest")
	if code != 1 || out != "" || !strings.Contains(errs, "active member") || strings.Count(errs, "\n") != 1 {
		t.Errorf("reset of active group: exit %d stdout %q stderr %q", code, out, errs)
	}
}

func hasGroup(gs []groupRow, name string) bool {
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

func describeGroupJSON(t *testing.T, bs, group string) groupDescription {
	t.Helper()
	var g groupDescription
	mustJSON(t, mustRun(t, bs, "", "group", "describe", group, "-o", "json"), &g)
	return g
}
