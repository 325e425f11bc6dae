package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gop11/gop11/wire"
)

// What a scrape shows of wrapped calls, groups and the health check.
func TestScrape(t *testing.T) {
	m := New(func() []MemberState {
		return []MemberState{{Group: "signers", Member: "a", Up: true, Calls: 7}, {Group: "signers", Member: "b", Calls: 3}}
	}, func() []ModuleSessions { return []ModuleSessions{{Module: "knet", Virtual: 12, Real: 3}} })
	call := m.Wrap(func(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
		if id == wire.CallLogin {
			return nil, wire.CKR_PIN_INCORRECT
		}
		return nil, nil
	})
	for range 3 {
		call(context.Background(), wire.CallGetInfo, &wire.GetInfoRequest{})
	}
	call(context.Background(), wire.CallLogin, &wire.LoginRequest{})
	m.Denied("web", wire.CallSign)
	srv := httptest.NewServer(m.Handler(func(context.Context) map[string]string { return nil }))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, text := get("/metrics")
	for _, want := range []string{
		`gop11_calls_total{function="C_GetInfo",rv="CKR_OK"} 3`,
		`gop11_calls_total{function="C_Login",rv="CKR_PIN_INCORRECT"} 1`,
		`gop11_call_duration_seconds_count{function="C_GetInfo"} 3`,
		`gop11_policy_denials_total{client="web",function="C_Sign"} 1`,
		`gop11_group_member_up{group="signers",member="a"} 1`,
		`gop11_group_member_up{group="signers",member="b"} 0`,
		`gop11_group_member_calls_total{group="signers",member="a"} 7`,
		`gop11_sessions{kind="virtual",module="knet"} 12`,
		`gop11_sessions{kind="real",module="knet"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(text, `function="C_Sign",rv=`) {
		t.Errorf("a function never called has series")
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	// A handler caches its answer for healthTTL: another one with a module
	// down.
	srv2 := httptest.NewServer(m.Handler(func(context.Context) map[string]string {
		return map[string]string{"knet": "module knet: worker: dlopen failed"}
	}))
	defer srv2.Close()
	resp, err := srv2.Client().Get(srv2.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"knet":"module knet: worker: dlopen failed"`) {
		t.Errorf("/healthz with a module down: %d %s", resp.StatusCode, b)
	}
}

// With metrics off (nil), nothing is wrapped and the hooks do nothing.
func TestNil(t *testing.T) {
	var m *Metrics
	called := false
	f := m.Wrap(func(context.Context, wire.CallID, wire.Message) (wire.Message, error) { called = true; return nil, nil })
	f(context.Background(), wire.CallGetInfo, &wire.GetInfoRequest{})
	m.Connected()
	m.Disconnected()
	m.WorkerStarted("x")
	m.WorkerDied("x")
	m.Denied("c", wire.CallSign)
	if !called {
		t.Error("a nil Metrics' Wrap did not call next")
	}
}
