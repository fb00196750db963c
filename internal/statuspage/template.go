package statuspage

// pageTemplate is the HTML page: html/template escapes every value, site
// names and errors included. Plain HTML and a little CSS, no script; it
// reloads itself with a meta refresh.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="color-scheme" content="light dark">
<title>{{.Title}}</title>
<style>
:root{--fg:#1f2328;--dim:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;
--ok:#1a7f37;--ok-bg:#dafbe1;--info:#0969da;--info-bg:#ddf4ff;--warn:#9a6700;--warn-bg:#fff8c5;
--bad:#cf222e;--bad-bg:#ffebe9;--muted:#59636e;--muted-bg:#eff2f5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--dim:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;
--ok:#3fb950;--ok-bg:#12261e;--info:#4493f8;--info-bg:#121d2f;--warn:#d29922;--warn-bg:#272115;
--bad:#f85149;--bad-bg:#25171c;--muted:#9198a1;--muted-bg:#212830}}
*{box-sizing:border-box}
body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:64rem;margin:0 auto}
a{color:var(--info)}
h1{margin:0;font-size:1.4rem}
h2{margin:0;font-size:1.2rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem}
h3{margin:1rem 0 .4rem;font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;color:var(--dim)}
.meta{margin:.2rem 0 1rem;color:var(--dim);font-size:.875rem}
.name{overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .55rem;border:1px solid;border-radius:999px;font-size:.75rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase;white-space:nowrap;line-height:1.5}
.tone-ok{color:var(--ok);background:var(--ok-bg)}
.tone-info{color:var(--info);background:var(--info-bg)}
.tone-warn{color:var(--warn);background:var(--warn-bg)}
.tone-bad{color:var(--bad);background:var(--bad-bg)}
.tone-muted{color:var(--muted);background:var(--muted-bg)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.9rem 1rem;margin:0 0 1rem}
.site{border-left-width:6px}
.edge-ok{border-left-color:var(--ok)}.edge-info{border-left-color:var(--info)}.edge-warn{border-left-color:var(--warn)}
.edge-bad{border-left-color:var(--bad)}.edge-muted{border-left-color:var(--muted)}
.note{margin:.2rem 0 0;color:var(--dim);font-size:.875rem}
.facts{display:flex;flex-wrap:wrap;gap:.3rem 1.5rem;margin:.6rem 0 0}
.facts div{display:flex;gap:.4rem;align-items:baseline}
dt{color:var(--dim);font-size:.875rem}
dd{margin:0;font-weight:600}
.lasterror{margin:.8rem 0 0;padding:.5rem .75rem;border:1px solid var(--bad);border-radius:6px;background:var(--bad-bg)}
.lasterror h3{margin:0 0 .2rem;color:var(--bad)}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.counters{display:grid;grid-template-columns:repeat(auto-fit,minmax(6.5rem,1fr));gap:.5rem;margin:.8rem 0 0}
.counter{padding:.35rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
.counter b{display:block;font-size:1.25rem;font-variant-numeric:tabular-nums}
.counter span{color:var(--dim);font-size:.75rem;text-transform:uppercase;letter-spacing:.05em}
.counter.warn b{color:var(--warn)}.counter.bad b{color:var(--bad)}
.scroll{overflow-x:auto}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{color:var(--dim);font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.05em}
tbody tr:last-child td{border-bottom:0}
.num{text-align:right}
.pid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.workers{width:auto;min-width:min(100%,42rem)}
.events .msg{font-family:ui-monospace,monospace;font-size:.8rem;white-space:pre-wrap;word-break:break-word}
.empty{margin:0;color:var(--dim)}
.graphs{display:flex;flex-wrap:wrap;gap:.6rem 1.5rem}
.graph{margin:0}
.graph figcaption{display:flex;gap:.4rem;align-items:baseline;font-size:.8rem;color:var(--dim)}
.graph figcaption b{color:var(--fg);font-variant-numeric:tabular-nums}
.spark{display:block;background:var(--bg);border:1px solid var(--line);border-radius:4px}
.spark .line{fill:none;stroke:var(--info);stroke-width:1.5;stroke-linejoin:round}
.spark .area{fill:var(--info-bg);stroke:none}
@media (max-width:480px){
body{padding:.5rem;font-size:14px}
.card{padding:.75rem}
.counters{grid-template-columns:repeat(auto-fit,minmax(5rem,1fr));gap:.4rem}
.counter b{font-size:1.1rem}
.site{border-left-width:4px}
table{font-size:13px}
th,td{padding:.3rem}
th{letter-spacing:0}
.badge{padding:0 .35rem;letter-spacing:0;font-size:11px}
}
</style>
</head>
<body>
<main>
<header>
<h1>zsm status</h1>
<p class="meta">Generated <time datetime="{{iso .Now}}">{{time .Now}}</time> · this page reloads every {{.Refresh}} seconds · <a href="?json">JSON</a> · <a href="metrics">Prometheus metrics</a></p>
</header>
{{- if .Summary}}
<section class="card summary">
<h2>{{len .Sites}} sites{{range .Summary}} <span class="badge tone-{{.Tone}}">{{.N}} {{.State}}</span>{{end}}</h2>
<div class="scroll">
<table>
<thead><tr><th>Site</th><th>State</th><th>Mode</th><th class="num">Workers</th><th class="num">Active</th><th class="num">Queued</th><th class="num">Served</th><th class="num">Shed</th><th class="num">Failed</th><th class="num">Restarts</th><th class="num">Gen</th></tr></thead>
<tbody>
{{- range .Sites}}
<tr><td><a href="#{{.ID}}">{{.Site}}</a></td><td><span class="badge tone-{{.Tone}}">{{.State}}</span></td>
{{- if .Brokerless}}<td colspan="9">{{or .LastError .Addresses}}</td></tr>{{continue}}{{end -}}
<td>{{.Mode}}</td><td class="num">{{len .Rows}}</td><td class="num">{{count .Active}}</td><td class="num">{{count .Queued}}</td><td class="num">{{count .Served}}</td><td class="num">{{count .Shed}}</td><td class="num">{{count .Failed}}</td><td class="num">{{count .Restarts}}</td><td class="num">{{.Generation}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
</section>
{{- end}}
{{- range .Sites}}
<section class="card site edge-{{.Tone}}" id="{{.ID}}">
<h2><span class="name">{{.Site}}</span> <span class="badge tone-{{.Tone}}">{{or .State "unknown"}}</span></h2>
{{- with .StateNote}}
<p class="note">{{.}}</p>
{{- end}}
{{- if .Brokerless}}
<dl class="facts">
<div><dt>Listen</dt><dd>{{or .Addresses "–"}}</dd></div>
</dl>
{{- with .LastError}}
<div class="lasterror">
<h3>Why</h3>
<pre>{{.}}</pre>
</div>
{{- end}}
</section>
{{- continue}}
{{- end}}
<dl class="facts">
<div><dt>Mode</dt><dd>{{or .Mode "–"}}</dd></div>
<div><dt>Generation</dt><dd>{{.Generation}}</dd></div>
<div><dt>Breaker</dt><dd><span class="badge tone-{{.BreakerTone}}">{{or .Breaker "unknown"}}</span></dd></div>
<div><dt>Workers</dt><dd>{{len .Rows}} ({{.Ready}} ready)</dd></div>
{{- if .Requests}}
<div><dt>Requests</dt><dd>{{.Requests}} ({{printf "%.1f" .RequestsPerSec}}/s)</dd></div>
{{- end}}
{{- range .Latency}}
<div><dt>{{.What}} p99</dt><dd>{{.P99}}</dd></div>
{{- end}}
{{- with .Addresses}}
<div><dt>Listen</dt><dd>{{.}}</dd></div>
{{- end}}
{{- with .Version}}
<div><dt>zsm</dt><dd>{{.}}</dd></div>
{{- end}}
</dl>
{{- with .LastError}}
<div class="lasterror">
<h3>Last error</h3>
<pre>{{.}}</pre>
</div>
{{- end}}
<div class="counters">
<div class="counter"><b>{{count .Accepted}}</b><span>accepted</span></div>
<div class="counter"><b>{{count .Served}}</b><span>served</span></div>
<div class="counter"><b>{{count .Active}}</b><span>active</span></div>
<div class="counter{{if .Queued}} warn{{end}}"><b>{{count .Queued}}</b><span>queued</span></div>
<div class="counter{{if .Shed}} warn{{end}}"><b>{{count .Shed}}</b><span>shed</span></div>
<div class="counter{{if .Failed}} bad{{end}}"><b>{{count .Failed}}</b><span>failed</span></div>
<div class="counter{{if .Restarts}} warn{{end}}"><b>{{count .Restarts}}</b><span>restarts</span></div>
{{- if .LogDropped}}
<div class="counter warn"><b>{{count .LogDropped}}</b><span>log lines dropped</span></div>
{{- end}}
</div>
{{- if .Collecting}}
<h3>Last 15 minutes</h3>
<p class="empty">Graphs appear once two samples are taken, one every 10 seconds.</p>
{{- end}}
{{- with .Graphs}}
<h3>Last 15 minutes</h3>
<div class="graphs">
{{- range .}}
<figure class="graph"><figcaption><span>{{.Title}}</span> <b>{{.Now}}</b> <span>max {{.Max}}</span></figcaption>
<svg class="spark" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}} over the last 15 minutes: now {{.Now}}, at most {{.Max}}"><path class="area" d="{{.Area}}"/><path class="line" d="{{.Line}}"/></svg></figure>
{{- end}}
</div>
{{- end}}
{{- with .Sockets}}
<h3>Listening sockets</h3>
<div class="scroll">
<table class="workers">
<thead><tr><th>Address</th><th class="num">Waiting to be accepted</th><th class="num">Backlog</th></tr></thead>
<tbody>
{{- range .}}
<tr><td class="pid">{{.Addr}}</td><td class="num"><span class="badge tone-{{.Tone}}">{{.Queue}}</span></td><td class="num">{{.Backlog}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{- end}}
<h3>Workers</h3>
{{- if .Rows}}
<div class="scroll">
<table class="workers">
<thead><tr><th>PID</th><th>State</th><th class="num">Busy</th><th class="num">Held</th><th class="num">Served</th><th class="num">Age</th><th class="num">RSS</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr><td class="pid">{{.Pid}}</td><td><span class="badge tone-{{.Tone}}">{{.State}}</span></td><td class="num" title="busy {{.Busy}} of {{.Held}} held">{{.Busy}}</td><td class="num">{{.Held}}</td><td class="num">{{count .Served}}</td><td class="num"{{with .StartedAt}} title="{{.}}"{{end}}>{{.Age}}</td><td class="num">{{.Memory}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{- else}}
<p class="empty">No workers.</p>
{{- end}}
{{- with .Recent}}
<h3>Recent events</h3>
<div class="scroll">
<table class="events">
<thead><tr><th>Time</th><th>Level</th><th>What happened</th></tr></thead>
<tbody>
{{- range .}}
<tr><td class="num">{{.At}}</td><td><span class="badge tone-{{.Tone}}">{{.Level}}</span></td><td class="msg">{{.Message}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{- end}}
</section>
{{- else}}
<section class="card"><p class="empty">No site is running.</p></section>
{{- end}}
</main>
</body>
</html>
`
