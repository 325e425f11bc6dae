package harness

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
	"time"
)

// RequireRoot fails the test under CI=true and skips it otherwise when
// the test does not run as root; why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("needs root: " + why)
	}
	t.Skip("needs root: " + why)
}

// User is a system user a test made.
type User struct {
	Name     string
	UID, GID int
}

// NewUser makes a system user called name, with a group of its own, if
// there is none, and removes it at cleanup.
func NewUser(t testing.TB, name string) User {
	t.Helper()
	Require(t, "useradd")
	if _, err := user.Lookup(name); err != nil {
		// Another package's test may hold the passwd lock: try again.
		var out []byte
		for i := 0; i < 50; i++ {
			if out, err = exec.Command("useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			if exec.Command("userdel", name).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("userdel %s failed", name)
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// CopyFile copies from to a new file to with mode.
func CopyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, mode)
	}
	return err
}
