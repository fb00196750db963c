package statuspage

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// ZSM_SCREENSHOT, when set, is where TestChromium leaves a copy of its
// screenshot for people to look at.

// chromium runs headless Chromium with args on a fresh profile, bounded by
// a timeout, and returns its standard output. On timeout its whole process
// group is killed.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // children holding the pipes after a kill
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e := stderr.String()
		if len(e) > 4000 {
			e = "…" + e[len(e)-4000:]
		}
		t.Fatalf("chromium %s: %v (context: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), e)
	}
	return stdout.Bytes()
}

// TestChromium renders the page of the test host in headless Chromium: the
// screenshot is a real, non-blank image of the window's size, and the DOM
// Chromium built holds every worker and no script.
func TestChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("cannot render the page in a browser: %v (install Debian's chromium package)", err)
	}
	if testing.Short() {
		t.Skip("-short: not starting a browser")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(newHandler(fixed(host()...), func() time.Time { return testNow }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	url := srv.URL + "/"

	const width, height = 1200, 900
	shot := filepath.Join(t.TempDir(), "statuspage.png")
	chromium(t, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+shot, url)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
	if dst := os.Getenv("ZSM_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Errorf("copy of the screenshot: %v", err)
		} else {
			t.Logf("copy: %s", dst)
		}
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	colours, stddev := variety(img)
	t.Logf("screenshot: %d colours, luminance standard deviation %.1f", colours, stddev)
	if colours < 16 || stddev < 5 {
		t.Errorf("screenshot looks blank: %d colours, luminance standard deviation %.1f", colours, stddev)
	}

	dom := string(chromium(t, "--dump-dom", url))
	for _, s := range host() {
		if !strings.Contains(dom, ">"+s.Site+"<") {
			t.Errorf("rendered DOM lacks site %s", s.Site)
		}
		for _, w := range s.Workers {
			if !strings.Contains(dom, fmt.Sprintf(`<td class="pid">%d</td>`, w.Pid)) {
				t.Errorf("rendered DOM lacks worker %d", w.Pid)
			}
		}
	}
	// The last error's <script> stayed text.
	if strings.Contains(dom, "<script") {
		t.Error("rendered DOM has a script element")
	}
	if !strings.Contains(dom, "&lt;script&gt;alert(\"pwned\")&lt;/script&gt;") {
		t.Error("rendered DOM lacks the last error as text")
	}
}

// variety counts img's distinct colours (up to 1024) and the standard
// deviation of its luminance, 0-255.
func variety(img image.Image) (colours int, stddev float64) {
	seen := map[uint32]bool{}
	var n, sum, sumSq float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if len(seen) < 1024 {
				seen[r>>8<<16|g>>8<<8|bl>>8] = true
			}
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			n++
			sum += l
			sumSq += l * l
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean := sum / n
	v := sumSq/n - mean*mean
	if v < 0 {
		v = 0
	}
	return len(seen), math.Sqrt(v)
}
