package statuspage

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net"
	"net/http"
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

// measurePage loads the status page in a frame of the page's window
// size and writes, once it has loaded, each sparkline's box as Chromium
// laid it out and the length of its line: "SPARK x,y,w,h,len".
const measurePage = `<!DOCTYPE html>
<html><body style="margin:0">
<iframe id="f" src="/" style="border:0;width:%dpx;height:%dpx;display:block"></iframe>
<pre id="out"></pre>
<script>
document.getElementById("f").onload = function () {
  var out = [];
  this.contentDocument.querySelectorAll("svg.spark").forEach(function (s) {
    var r = s.getBoundingClientRect(), line = s.querySelector("path.line");
    out.push("SPARK " + [r.x, r.y, r.width, r.height, line ? line.getTotalLength() : 0].map(Math.round).join(","));
  });
  document.getElementById("out").textContent = out.join("\n");
};
</script>
</body></html>`

// ZSM_GRAPHS_SCREENSHOT, when set, is where TestChromiumGraphs leaves a
// copy of its screenshot.

// TestChromiumGraphs renders a site with 15 minutes of history in
// headless Chromium: three sparklines, laid out at their size with a
// line of some length, that the screenshot shows (pixels in their boxes
// that are not the background).
func TestChromiumGraphs(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("cannot render the page in a browser: %v (install Debian's chromium package)", err)
	}
	if testing.Short() {
		t.Skip("-short: not starting a browser")
	}
	const width, height = 1200, 1000
	h := newHandler(fixed(runningSite()), func() time.Time { return testNow })
	h.history = busyHistory()
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/measure", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, measurePage, width, height)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dom := string(chromium(t, "--virtual-time-budget=3000", "--dump-dom", srv.URL+"/measure"))
	var boxes []image.Rectangle
	for _, line := range strings.Split(dom, "\n") {
		var x, y, w, hh, length int
		i := strings.Index(line, "SPARK ")
		if i < 0 {
			continue
		}
		if _, err := fmt.Sscanf(line[i:], "SPARK %d,%d,%d,%d,%d", &x, &y, &w, &hh, &length); err != nil {
			continue
		}
		if w != graphW || hh != graphH || length < graphW {
			t.Errorf("sparkline laid out %dx%d with a line %d long, want %dx%d and at least %d", w, hh, length, graphW, graphH, graphW)
		}
		boxes = append(boxes, image.Rect(x, y, x+w, y+hh))
	}
	if len(boxes) != 3 {
		t.Fatalf("%d sparklines laid out, want 3; DOM:\n%s", len(boxes), dom)
	}

	shot := filepath.Join(t.TempDir(), "graphs.png")
	chromium(t, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+shot, srv.URL+"/")
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
	if dst := os.Getenv("ZSM_GRAPHS_SCREENSHOT"); dst != "" {
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
	for _, b := range boxes {
		if n := inked(img, b.Inset(2)); n < graphW {
			t.Errorf("sparkline at %v: %d pixels drawn, want a line and its area (%d at least)", b, n, graphW)
		}
	}
}

// inked counts the pixels of r in img that differ from r's top-left
// corner, its background.
func inked(img image.Image, r image.Rectangle) int {
	bg := color.RGBAModel.Convert(img.At(r.Min.X, r.Min.Y))
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) != bg {
				n++
			}
		}
	}
	return n
}
