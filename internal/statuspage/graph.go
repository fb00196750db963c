package statuspage

import (
	"strconv"
	"strings"
	"time"
)

// Size of a sparkline, in CSS pixels.
const graphW, graphH = 240, 48

// graph is one of a site's sparklines as the page shows it: an inline SVG
// drawn here, so the page needs no script.
type graph struct {
	Title string // what it shows: "requests/s"
	Now   string // its last value
	Max   string // the top of its scale
	W, H  int    // its size
	Line  string // the SVG path of the line
	Area  string // and of the area under it
}

// value is one value of a graph, at a time.
type value struct {
	at time.Time
	v  float64
}

// graphs draws a site's last samples, oldest first, as of now: requests
// (or connections, when no worker reports requests) a second, busy
// workers, and connections waiting. It needs two samples at least.
func graphs(pts []point, now time.Time) []graph {
	if len(pts) < 2 {
		return nil
	}
	var rate, busy, waiting []value
	for i, p := range pts {
		busy = append(busy, value{p.at, float64(p.busy)})
		waiting = append(waiting, value{p.at, float64(p.waiting)})
		if i == 0 {
			continue
		}
		prev, dt := pts[i-1], p.at.Sub(pts[i-1].at).Seconds()
		if dt <= 0 {
			continue
		}
		n := float64(p.count) // a counter that went back restarted from 0 (a new broker)
		if p.count >= prev.count && p.requests == prev.requests {
			n -= float64(prev.count)
		}
		rate = append(rate, value{p.at, n / dt})
	}
	title := "connections/s"
	if pts[len(pts)-1].requests {
		title = "requests/s"
	}
	return []graph{
		sparkline(title, rate, now, 1),
		sparkline("busy workers", busy, now, 0),
		sparkline("waiting connections", waiting, now, 0),
	}
}

// sparkline draws vals over the last historySpan up to now, scaled to
// their largest value (1 at least); values are written with prec
// decimals.
func sparkline(title string, vals []value, now time.Time, prec int) graph {
	g := graph{Title: title, W: graphW, H: graphH, Now: "–"}
	top := 1.0
	for _, v := range vals {
		top = max(top, v.v)
	}
	g.Max = strconv.FormatFloat(top, 'f', prec, 64)
	if len(vals) == 0 {
		return g
	}
	g.Now = strconv.FormatFloat(vals[len(vals)-1].v, 'f', prec, 64)
	var line strings.Builder
	var first, last string
	for i, v := range vals {
		x := float64(graphW) * (1 - now.Sub(v.at).Seconds()/historySpan.Seconds())
		x = min(max(x, 0), graphW)
		y := graphH - 2 - (graphH-4)*v.v/top // 2 px inside the box
		xs := strconv.FormatFloat(x, 'f', 1, 64)
		pt := xs + "," + strconv.FormatFloat(y, 'f', 1, 64)
		if i == 0 {
			first = xs
			line.WriteString("M" + pt)
		} else {
			line.WriteString(" L" + pt)
		}
		last = xs
	}
	g.Line = line.String()
	base := strconv.Itoa(graphH)
	g.Area = "M" + first + "," + base + " L" + strings.TrimPrefix(g.Line, "M") + " L" + last + "," + base + " Z"
	return g
}
