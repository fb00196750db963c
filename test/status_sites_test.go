package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/linger"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// zsmStatus runs the built `zsm status ARGS...` and returns its stdout and
// stderr, failing the test if it fails. env is added to the environment.
func zsmStatus(t *testing.T, bin string, env []string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "zsm"), append([]string{"status"}, args...)...)
	cmd.Env = append(append(os.Environ(), raceEnv()), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zsm status %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), stderr.String()
}

// TestStatusBrokerless: `zsm status` and the host's status page list every
// enabled site of the user, not only those whose broker runs: one whose
// broker never started is "idle, socket listening" on its address, one
// whose socket failed (its port held by the test) says why; the running
// one keeps its live status.
func TestStatusBrokerless(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	systemdtest.UnitDir(t)
	ports := freePorts(t, 4)
	runPort, idlePort, failPort, pagePort := ports[0], ports[1], ports[2], ports[3]
	held, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", failPort))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	run, idle, failed := uniqueName(t, "run"), uniqueName(t, "idle"), uniqueName(t, "taken")
	cfg := filepath.Join(t.TempDir(), "sites.hcl")
	var body strings.Builder
	for _, s := range []struct {
		name string
		port int
	}{{run, runPort}, {idle, idlePort}, {failed, failPort}} {
		fmt.Fprintf(&body, "site %q {\n  listen   = [\"127.0.0.1:%d\"]\n  protocol = \"http\"\n  command  = [%q]\n}\n",
			s.name, s.port, helloWorker(t, bin))
	}
	writeFile(t, cfg, body.String())
	zsmgen(t, bin, "units", cfg)
	systemdtest.Systemctl(t, "daemon-reload")
	var units []string
	for _, name := range []string{run, idle, failed} {
		units = append(units, "zsm@"+name+".socket", "zsm@"+name+".service")
	}
	// The failed socket's state goes with UnitDir's reset-failed.
	t.Cleanup(func() { systemdtest.Systemctl(t, append([]string{"disable", "--now"}, units...)...) })
	systemdtest.Systemctl(t, "enable", "--now", "zsm@"+run+".socket", "zsm@"+idle+".socket")
	systemdtest.Systemctl(t, "enable", "zsm@"+failed+".socket")
	if out, err := exec.Command("systemctl", "--user", "start", "zsm@"+failed+".socket").CombinedOutput(); err == nil {
		t.Fatalf("zsm@%s.socket started on a port the test holds:\n%s", failed, out)
	}
	if code, _, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", runPort)); err != nil || code != 200 {
		t.Fatalf("request to %s: %d %v", run, code, err)
	}

	// The table: the running site as today, the others with what systemd
	// does with their sockets.
	var out string
	systemdtest.Eventually(t, 10*time.Second, "zsm status to show "+run+" running", func() bool {
		out, _ = zsmStatus(t, bin, nil)
		return regexp.MustCompile(`(?m)^` + run + ` +handoff +running `).MatchString(out)
	})
	t.Logf("zsm status:\n%s", out)
	for _, want := range []string{
		fmt.Sprintf(`(?m)^  %s +idle, socket listening on 127\.0\.0\.1:%d$`, idle, idlePort),
		fmt.Sprintf(`(?m)^  %s +socket failed: resources: Failed to create listening socket \(127\.0\.0\.1:%d\): Address already in use$`, failed, failPort),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("zsm status lacks a line matching %s:\n%s", want, out)
		}
	}
	if detail, _ := zsmStatus(t, bin, nil, idle); !strings.Contains(detail, fmt.Sprintf("state:       idle, socket listening on 127.0.0.1:%d", idlePort)) {
		t.Errorf("zsm status %s:\n%s", idle, detail)
	}

	// JSON, from the command and from the page.
	check := func(what, js string) {
		t.Helper()
		var list []status.Site
		if err := json.Unmarshal([]byte(js), &list); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, js)
		}
		got := map[string]status.Site{}
		for _, s := range list {
			got[s.Site] = s
		}
		if s := got[run]; s.State != "running" || s.Mode != "handoff" || s.Served < 1 || !slices.Contains(s.Listen, fmt.Sprintf("127.0.0.1:%d", runPort)) {
			t.Errorf("%s: %s is %+v", what, run, s)
		}
		if s := got[idle]; s.State != status.StateIdle || !slices.Contains(s.Listen, fmt.Sprintf("127.0.0.1:%d", idlePort)) {
			t.Errorf("%s: %s is %+v", what, idle, s)
		}
		if s := got[failed]; s.State != status.StateSocketFailed || !strings.HasPrefix(s.LastError, "socket failed: resources") {
			t.Errorf("%s: %s is %+v", what, failed, s)
		}
	}
	js, _ := zsmStatus(t, bin, nil, "--json")
	check("zsm status --json", js)

	ctx, cancel := context.WithCancel(context.Background())
	page := exec.CommandContext(ctx, filepath.Join(bin, "zsm"), "status", "--serve", fmt.Sprintf("127.0.0.1:%d", pagePort))
	page.Env = append(os.Environ(), raceEnv())
	if err := page.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // ends zsm status --serve
		page.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", pagePort)
	systemdtest.Eventually(t, 10*time.Second, "zsm status --serve to answer", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pagePort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	check("the page's JSON", httpGet(t, url+"/?json"))
	html := httpGet(t, url+"/")
	for _, want := range []string{
		fmt.Sprintf(`<td colspan="9">127.0.0.1:%d</td>`, idlePort),
		`<span class="badge tone-info">idle</span>`,
		`<span class="badge tone-bad">socket-failed</span>`,
		"Address already in use",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestStatusLinger: with a user manager, `zsm status` says once, on
// stderr, what to run when lingering is off (the user's file absent from
// the linger directory), and nothing when it is on, nor in JSON.
func TestStatusLinger(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{linger.EnvDir + "=" + dir}
	hint := "run: loginctl enable-linger " + u.Username + "\n"
	stdout, stderr := zsmStatus(t, bin, env)
	if strings.Count(stderr, hint) != 1 || strings.Contains(stdout, "linger") {
		t.Errorf("zsm status, lingering off: want the hint once on stderr\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	// JSON is for scripts, which may read stderr with stdout: no notice.
	if stdout, stderr := zsmStatus(t, bin, env, "--json"); strings.Contains(stderr+stdout, "linger") {
		t.Errorf("zsm status --json, lingering off: %s%s", stdout, stderr)
	}
	writeFile(t, filepath.Join(dir, u.Username), "")
	if stdout, stderr := zsmStatus(t, bin, env); strings.Contains(stderr+stdout, "linger") {
		t.Errorf("zsm status, lingering on: %s%s", stdout, stderr)
	}
}
