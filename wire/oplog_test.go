package wire

import "testing"

func TestStepOf(t *testing.T) {
	for _, tc := range []struct {
		id   CallID
		want OpStep
	}{
		{CallSignInit, OpInit}, {CallSignUpdate, OpUpdate}, {CallSign, OpEnd}, {CallSignFinal, OpEnd},
		{CallDigestKey, OpUpdate}, {CallDecryptInit, OpInit}, {CallLogin, NotOp}, {CallGetInfo, NotOp},
		{CallAdmin, NotOp},
	} {
		if got := StepOf(tc.id); got != tc.want {
			t.Errorf("StepOf(%s) = %d, want %d", tc.id, got, tc.want)
		}
	}
}

// OpLog keeps an operation's Init and updates within Limit, ends with the
// last operation, and zeroes a kept PIN when it drops its calls.
func TestOpLog(t *testing.T) {
	l := OpLog{Limit: 8}
	if !l.Record(CallSignInit, OpInit, &SignInitRequest{}, true) || !l.Active() {
		t.Fatal("an Init that succeeded was not kept")
	}
	login := &LoginRequest{UserType: CKU_CONTEXT_SPECIFIC, Pin: PIN("1234")}
	if !l.Record(CallLogin, OpUpdate, login, true) {
		t.Fatal("the operation's C_Login was not kept")
	}
	if !l.Record(CallSignUpdate, OpUpdate, &SignUpdateRequest{Part: []byte("abcd")}, true) || len(l.Calls) != 3 {
		t.Fatalf("an update within the limit: %d calls kept, want 3", len(l.Calls))
	}
	if l.Record(CallSignUpdate, OpUpdate, &SignUpdateRequest{Part: []byte("efgh")}, true) || !l.Over || len(l.Calls) != 0 {
		t.Fatalf("an update past the limit: Over %v, %d calls kept; want Over and none", l.Over, len(l.Calls))
	}
	if string(login.Pin) != "\x00\x00\x00\x00" {
		t.Errorf("the dropped C_Login's PIN was not zeroed: %q", login.Pin)
	}
	if l.Record(CallSignFinal, OpEnd, nil, true) || l.Active() || l.Over {
		t.Errorf("after the Final: active %v, Over %v; want the log ended", l.Active(), l.Over)
	}
	if l.Record(CallVerifyInit, OpInit, &VerifyInitRequest{}, false) || l.Active() {
		t.Errorf("a failed Init started an operation")
	}
	l.Record(CallDigestInit, OpInit, &DigestInitRequest{}, true)
	if l.Record(CallDigestUpdate, OpUpdate, &DigestUpdateRequest{Part: []byte("x")}, false) || l.Active() {
		t.Errorf("a failed update left its operation active")
	}
}
