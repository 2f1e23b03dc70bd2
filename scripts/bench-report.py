#!/usr/bin/env python3
"""Writes docs/benchmarks.md (to stdout) and its SVG plots (into docs/bench/) from the
results scripts/bench gathered (one JSON object per line).

usage: bench-report.py RESULTS.jsonl full|quick
       bench-report.py --machine    (this machine, as one JSON line for the results)
"""
import json
import os
import platform
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


def this_machine():
    return {"scenario": "machine",
            "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
            "cores": os.cpu_count(), "memory_gib": sh("free -g | awk '/Mem:/ {print $2}'"),
            "os": f"{platform.system()} {platform.release()}", "rustc": sh("rustc --version"),
            "node": sh("node --version"), "psql": sh("psql --version"),
            "redis": sh("redis-server --version").split(" sha=")[0]}


if sys.argv[1] == "--machine":
    print(json.dumps(this_machine()))
    sys.exit(0)

results_path, mode = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
out_dir = os.path.dirname(results_path)
# The machine the results were measured on, recorded by scripts/bench; results from before
# it recorded one are described by the machine the report is made on.
machine = next((r for r in rows if r.get("scenario") == "machine"), None) or this_machine()
rows = [r for r in rows if r.get("scenario") != "machine"]


def pick(scenario, target=None, label=None, nodes=None):
    """The runs of a scenario, a point run more than once (scripts/bench repeats the ones
    a latency target is read at) as its median run: `runs` says how many, `spread` the
    lowest and highest of the figure it was ranked by."""
    chosen = [r for r in rows if r.get("scenario") == scenario
              and (target is None or r.get("target") == target)
              and (label is None or r.get("label") == label)
              and (nodes is None or r.get("nodes") == nodes)]
    groups = {}
    for r in chosen:
        key = (r.get("target"), r.get("label"), r.get("nodes"), r.get("offered_per_s"))
        groups.setdefault(key, []).append(r)
    # Chat's binding figure is the acknowledgement's tail; everywhere else the delivery's.
    by = "ack_p99_ms" if scenario == "chat" else "p99_ms"
    out = []
    for runs in groups.values():
        if len(runs) == 1 or any(r.get(by) is None for r in runs):
            out.extend(runs)
            continue
        ranked = sorted(runs, key=lambda r: r[by])
        out.append(dict(ranked[len(ranked) // 2], runs=len(runs), spread=(by, ranked[0][by], ranked[-1][by])))
    return out


def median_note(point):
    """' (median of 3 runs; ack p99 8.10–12.30 ms)' for a repeated point, '' for one run."""
    if not point or point.get("runs", 1) == 1:
        return ""
    by, low, high = point["spread"]
    return f" (median of {point['runs']} runs; {by.replace('_ms', '').replace('_', ' ')} {low:.2f}–{high:.2f} ms)"


def sustained(points):
    """The best point a server kept up with: everything delivered, in order, once, at the
    offered rate (within 3 %), with p99 under 100 ms."""
    ok = [p for p in points if p["lost"] == 0 and p["duplicated"] == 0 and p["out_of_order"] == 0
          and p["deliveries_per_s"] >= 0.97 * p["offered_per_s"] and p["p99_ms"] <= 100]
    return max(ok, key=lambda p: p["deliveries_per_s"]) if ok else None


def at_ceiling(best, points):
    """Whether a sustained point is the highest load offered: the server kept up with all
    the load client could send, so its own limit is higher still."""
    return best is not None and best["offered_per_s"] >= max(p["offered_per_s"] for p in points)


def per_core(point):
    """Deliveries per second of server CPU (one core fully used), at that point."""
    cpu = point.get("server_cpu_cores") if point else None
    return point["deliveries_per_s"] / cpu if cpu else None


def at_offered(points, offered):
    near = [p for p in points if abs(p["offered_per_s"] - offered) <= 0.01 * offered]
    return near[0] if near else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def fmt(x, digits=1):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


# ---------------------------------------------------------------- plots (plain SVG)

COLORS = {"Salon": "#3345c4", "Salon (3 nodes)": "#3345c4", "floor": "#2e8b57", "Socket.IO": "#d2691e",
          "Socket.IO (2 nodes)": "#d2691e", "Salon (1 node, PostgreSQL)": "#8a94e0",
          "Salon (1 node, SQLite)": "#b9bfe8"}


def chart(name, title, series, x_label, y_label, log_y=True):
    w, h, left, right, top, bottom = 640, 360, 70, 20, 40, 50
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts if y > 0]
    if not xs or not ys:
        return None
    import math
    x0, x1 = 0, max(xs) * 1.05
    y0, y1 = (min(ys) / 1.5, max(ys) * 1.5) if log_y else (0, max(ys) * 1.1)
    fy = (lambda y: math.log10(max(y, y0))) if log_y else (lambda y: y)
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)
    py = lambda y: top + (1 - (fy(y) - fy(y0)) / (fy(y1) - fy(y0))) * (h - top - bottom)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">{x_label}</text>',
             f'<text x="16" y="{h / 2}" text-anchor="middle" transform="rotate(-90 16 {h / 2})">{y_label}</text>']
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        parts.append(f'<text x="{px(x)}" y="{h - bottom + 16}" text-anchor="middle">{x / 1000:.0f}k</text>')
    ticks = [10 ** e for e in range(-2, 5)] if log_y else [y1 * i / 5 for i in range(6)]
    for t in ticks:
        if y0 <= t <= y1:
            parts.append(f'<line x1="{left}" y1="{py(t)}" x2="{w - right}" y2="{py(t)}" stroke="#eee"/>')
            parts.append(f'<text x="{left - 6}" y="{py(t) + 4}" text-anchor="end">{t:g}</text>')
    for i, (label, pts) in enumerate(series.items()):
        pts = sorted(pts)
        color = COLORS.get(label, ["#333", "#999", "#c33"][i % 3])
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<rect x="{left + 12}" y="{top + 6 + i * 18}" width="12" height="3" fill="{color}"/>')
        parts.append(f'<text x="{left + 30}" y="{top + 12 + i * 18}">{label}</text>')
    parts.append("</svg>")
    with open(os.path.join(out_dir, f"{name}.svg"), "w") as f:
        f.write("\n".join(parts))
    return f"bench/{name}.svg"


def latency_series(groups):
    return {label: [(p["offered_per_s"], p["p99_ms"]) for p in pts] for label, pts in groups.items() if pts}


def throughput_series(groups):
    return {label: [(p["offered_per_s"], p["deliveries_per_s"]) for p in pts] for label, pts in groups.items() if pts}


# Salon's fanout is the embedded default (SQLite); the run on PostgreSQL is the cluster's
# reference (results from before it was run have no label on the SQLite runs).
fan = {"Salon": [r for r in pick("fanout", "salon") if r.get("label") != "postgres"],
       "floor": pick("fanout", "floor"), "Socket.IO": pick("fanout", "socketio")}
single_pg = pick("fanout", "salon", "postgres")
clu = {"Salon (3 nodes)": pick("cluster", "salon"), "Salon (1 node, PostgreSQL)": single_pg,
       "Salon (1 node, SQLite)": fan["Salon"], "Socket.IO (2 nodes)": pick("cluster", "socketio"),
       "floor": fan["floor"]}
plots = {
    "fanout_p99": chart("fanout_p99", "fanout: p99 latency against load", latency_series(fan),
                        "offered deliveries per second", "p99 latency (ms, log)"),
    "fanout_rate": chart("fanout_rate", "fanout: deliveries achieved", throughput_series(fan),
                         "offered deliveries per second", "deliveries per second", log_y=False),
    "cluster_p99": chart("cluster_p99", "cluster: p99 latency against load", latency_series(clu),
                         "offered deliveries per second", "p99 latency (ms, log)"),
    "cluster_rate": chart("cluster_rate", "cluster: deliveries achieved", throughput_series(clu),
                          "offered deliveries per second", "deliveries per second", log_y=False),
}

# ---------------------------------------------------------------- the report

p = print
p("# Benchmarks")
p()
if mode == "quick":
    p("> **Quick run** (`scripts/bench --quick`): small shapes and short runs, a smoke test of the "
      "benchmark itself. Its figures are not comparable with the targets; the full run's are.")
    p()
p("Measured by `scripts/bench` (this file and `docs/bench/` are its output; raw results in "
  "[`bench/results.jsonl`](bench/results.jsonl)). Performance is measured here, never asserted in tests.")
p()
p("## Method")
p()
p("- The load client (`clients/load`, `salon-load`) speaks each server's real protocol, prepares its shape "
  "through Salon's API (accounts signed up and verified through the e-mailed link, workspaces, threads), and "
  "prints one JSON object per run. Every message carries its sender's clock and number; receivers measure latency "
  "(send to delivery, same machine clock), loss, duplicates and order the same way for every server.")
p("- References, started by the script: **the floor**, a bare tokio-tungstenite broadcast server (no "
  "authentication, no storage: what the hardware and the WebSocket stack allow), and **Socket.IO 4** on Node "
  "(with the official Redis adapter for the cluster shape). Salon stores every message before fanning it out.")
p("- Servers are pinned to core 0, the load client to core 1 (`taskset`). Each point runs for the stated time "
  "after the sockets are open; deliveries are then given up to 5 s to arrive.")
p("- *fanout* runs on one Salon node on SQLite, the embedded default. *cluster* is the same shape over three "
  "nodes sharing PostgreSQL and Redis (the sender on the first node, the receivers spread over the three); its "
  "reference is one node on PostgreSQL at the same load, so that their ratio is what crossing nodes costs, not "
  "also what PostgreSQL's commits cost against SQLite's (that ratio is listed beside it).")
p("- *Sustained*: the highest load a server kept up with — everything delivered once and in order at the "
  "offered rate (within 3 %), with p99 under 100 ms; servers are compared by the load they sustained. The load client has one core; past about 600,000 "
  "deliveries/s it is its own limit, so a server that keeps up with the highest load offered may do more.")
p("- Repeated points: where a latency target is read (fanout at 100,000 deliveries/s, Salon and the floor; "
  "the highest load offered, Salon on one node (SQLite and PostgreSQL), on three and the floor, where the cluster is "
  "compared with the single node when both sustain it; chat on each backend) the full run runs the point three times, and the targets below read the median run, "
  "ranked by the figure the target reads (chat: the acknowledgement's p99), with the lowest and highest beside "
  "it. Every run is in the last table.")
p("- *idle* runs on a server of its own, started for it: memory a process freed earlier (another "
  "scenario's sockets) would be reused by the new sockets and hide what they cost.")
p("- *CPU cores*: the server processes' CPU time (every thread, user and system, from `/proc`) while the "
  "senders ran, divided by the run's length.")
p("- Salon runs with its defaults except the limits a load test must lift from one client address "
  "(sign-ups, frames per second, sockets per account and per address). SQLite runs with "
  "`synchronous = full` (each acknowledged message survives a power cut).")
p()
p("## Machine")
p()
p(f"- CPU: {machine['cpu']} × {machine['cores']} cores; memory: {machine['memory_gib']} GiB; {machine['os']}")
p(f"- {machine['rustc']}; Node {machine['node']}; {machine['psql']}; {machine['redis']}")
# How fast this machine syncs and computes, from references that run no Salon code: runs on
# machines of one kind differ by several times, and these say whether two reports compare.
floor100 = [r for r in pick("fanout", "floor", nodes=None) if r.get("offered_per_s") == 100000]
ceilings = {r.get("label"): r for r in pick("persist-ceiling")}
if floor100 or ceilings:
    parts = []
    if "sqlite" in ceilings:
        parts.append(f"raw SQLite loop {fmt(ceilings['sqlite']['transactions_per_s'], 0)} transactions/s")
    if "postgres" in ceilings:
        parts.append(f"pgbench {fmt(ceilings['postgres']['transactions_per_s'], 0)} transactions/s")
    if floor100 and floor100[0].get("server_cpu_cores") is not None:
        parts.append(f"the floor at 100,000 deliveries/s used {fmt(floor100[0]['server_cpu_cores'], 2)} of its core")
    p(f"- This machine's pace (references only, to compare reports): {'; '.join(parts)}.")
p()
p("Reproduce: `scripts/bench` (full, 25–40 minutes on 2 cores; on a slow core nearly half of it is signing up 20,000 accounts, an argon2id hash each on the server's one core) or `scripts/bench --quick` (under two minutes).")
p()

# Targets.
p("## Targets")
p()
p("| target | measured | verdict |")
p("|---|---|---|")
s_f, f_f, i_f = sustained(fan["Salon"]), sustained(fan["floor"]), sustained(fan["Socket.IO"])
# A sustained point is compared by the load it kept up with (the offered rate): the
# delivered count of a short run wobbles by a few messages either way.
s_rate = s_f["offered_per_s"] if s_f else None
f_rate = f_f["offered_per_s"] if f_f else None
i_rate = i_f["offered_per_s"] if i_f else None
verdict = lambda ok: "met" if ok else "missed"
r1 = s_rate / f_rate if s_rate and f_rate else None
r2 = s_rate / i_rate if s_rate and i_rate else None
ceil = lambda best, pts: " (the highest load offered)" if at_ceiling(best, pts) else ""
p(f"| fanout, 1,000 subscribers: sustained deliveries ≥ 0.8 × floor | Salon {fmt(s_rate, 0)}/s"
  f"{ceil(s_f, fan['Salon'])}, floor {fmt(f_rate, 0)}/s{ceil(f_f, fan['floor'])}: **{ratio(s_rate, f_rate)} ×** "
  f"| {verdict(r1 and r1 >= 0.8)} |")
p(f"| … and ≥ 2 × Socket.IO | Socket.IO {fmt(i_rate, 0)}/s{ceil(i_f, fan['Socket.IO'])}: "
  f"**{ratio(s_rate, i_rate)} ×** | {verdict(r2 and r2 >= 2)} |")
# When two servers both keep up with everything offered, the rate alone cannot rank them:
# compare what each delivers per core of CPU at the highest load both sustained.
if s_f and f_f and at_ceiling(s_f, fan["Salon"]) and at_ceiling(f_f, fan["floor"]):
    sp, fp = per_core(s_f), per_core(f_f)
    p(f"| (both at the load client's limit: deliveries per second of server CPU at {fmt(s_f['offered_per_s'], 0)}/s) "
      f"| Salon {fmt(sp, 0)}, floor {fmt(fp, 0)}: **{ratio(sp, fp)} ×** | for reference |")
s100, f100 = at_offered(fan["Salon"], 100_000), at_offered(fan["floor"], 100_000)
r3 = s100["p99_ms"] / f100["p99_ms"] if s100 and f100 and f100["p99_ms"] else None
p(f"| fanout p99 at 100k deliveries/s ≤ 1.5 × floor's | Salon {fmt(s100 and s100['p99_ms'], 2)} ms"
  f"{median_note(s100)}, floor "
  f"{fmt(f100 and f100['p99_ms'], 2)} ms{median_note(f100)}: "
  f"**{ratio(s100 and s100['p99_ms'], f100 and f100['p99_ms'])} ×** | "
  f"{verdict(r3 is not None and r3 <= 1.5)} |")
lossless = all(r["lost"] == 0 and r["duplicated"] == 0 and r["out_of_order"] == 0 for r in fan["Salon"])
p(f"| fanout: nothing lost, duplicated or reordered | Salon, every point: "
  f"{'none' if lossless else 'see the table'} | {verdict(lossless)} |")
for label in ("sqlite", "postgres"):
    c = pick("chat", "salon", label)
    if c:
        c = c[0]
        ok = c["p99_ms"] <= 25 and c["ack_p99_ms"] <= 10 and c["lost"] == 0
        # Where the acknowledgements over 10 ms came from: the server counts each post's
        # time in the store (a histogram, so only its share over a bucket's bound).
        store = ""
        if c.get("commit_over_10ms_pct") is not None and c.get("ack_over_10ms_pct") is not None:
            store = (f"; over 10 ms: {c['ack_over_10ms_pct']:.2f} % of acks, {c['commit_over_10ms_pct']:.2f} % of "
                     f"posts' commits in the server")
        p(f"| chat ({label}), {fmt(c['connections'])} sockets, {fmt(c['messages_per_s'], 0)} msg/s: p99 ≤ 25 ms, "
          f"ack p99 ≤ 10 ms, nothing lost | p99 {fmt(c['p99_ms'], 2)} ms, ack p99 {fmt(c['ack_p99_ms'], 2)} ms, "
          f"lost {c['lost']}{median_note(c)}{store} | {verdict(ok)} |")
idle = pick("idle", "salon")
if idle:
    idle = idle[0]
    p(f"| idle: ≤ 8 KiB RSS per authenticated socket at 15,000 | {fmt(idle['rss_per_socket_kib'], 2)} KiB at "
      f"{fmt(idle['connections'])} sockets | {verdict(idle['rss_per_socket_kib'] <= 8)} |")
for label in ("sqlite", "postgres"):
    s = pick("persist", "salon", label)
    c = pick("persist-ceiling", None, label)
    if s and c:
        s, c = s[0], c[0]
        r = s["acks_per_s"] / c["transactions_per_s"] if c["transactions_per_s"] else None
        p(f"| persist ({label}): ≥ 0.8 × raw SQL, p99 ack < 20 ms | {fmt(s['acks_per_s'], 0)} acks/s vs "
          f"{fmt(c['transactions_per_s'], 0)} tx/s raw: **{ratio(s['acks_per_s'], c['transactions_per_s'])} ×**, "
          f"p99 {fmt(s['p99_ms'], 2)} ms | {verdict(r and r >= 0.8 and s['p99_ms'] < 20)} |")
for r in pick("revoke", "salon"):
    ok = r["deliveries_after_removal"] == 0 and r["removal_p99_ms"] < 10
    where = f"{r['nodes']} nodes" if r["nodes"] > 1 else r.get("label", "")
    p(f"| revoke ({where}): zero deliveries after removal, removal p99 < 10 ms | "
      f"{r['deliveries_after_removal']} after, p99 {fmt(r['removal_p99_ms'], 2)} ms | {verdict(ok)} |")
sc, ic = sustained(clu["Salon (3 nodes)"]), sustained(clu["Socket.IO (2 nodes)"])


def pair(singles):
    """Each load the cluster ran, with the single node's run at that load."""
    return [(pnt, single) for pnt in sorted(clu["Salon (3 nodes)"], key=lambda x: x["offered_per_s"])
            if (single := at_offered(singles, pnt["offered_per_s"]))]


def by_load(paired):
    return ", ".join(f"{fmt(c['offered_per_s'] / 1000, 0)}k {c['p99_ms'] / s1['p99_ms']:.2f}"
                     for c, s1 in paired if s1["p99_ms"])


# The cluster is compared with one node on the database it shares (PostgreSQL): the ratio
# is then what crossing nodes costs. Against the SQLite node it would also count
# PostgreSQL's commits; that ratio is listed beside it. Results without a PostgreSQL
# node fall back to the SQLite one.
reference, backend = (single_pg, "PostgreSQL") if single_pg else (fan["Salon"], "SQLite")
paired = pair(reference)
# Compared at the highest load both shapes sustain: past it, both are queueing and their
# latencies only say how long the run was.
common = next(((c, s1) for c, s1 in reversed(paired) if sustained([c]) and sustained([s1])), None)
if common:
    c, s1 = common
    r = c["p99_ms"] / s1["p99_ms"] if s1["p99_ms"] else None
    p(f"| cluster: cross-node p99 ≤ 2 × single-node p99 at the same load (one node on {backend}) | at "
      f"{fmt(c['offered_per_s'], 0)} deliveries/s: {fmt(c['p99_ms'], 2)} ms{median_note(c)} vs "
      f"{fmt(s1['p99_ms'], 2)} ms{median_note(s1)}: **{ratio(c['p99_ms'], s1['p99_ms'])} ×** "
      f"| {verdict(r is not None and r <= 2)} |")
# Every load both shapes ran, so the verdict's one point is seen against the curve.
if paired:
    p(f"| (cluster p99 ÷ one node on {backend} at each load, deliveries/s) | {by_load(paired)} | for reference |")
if single_pg and fan["Salon"]:
    paired_sqlite = pair(fan["Salon"])
    s2 = common and at_offered(fan["Salon"], common[0]["offered_per_s"])
    if s2:
        p(f"| (the same against one node on SQLite, the embedded default: PostgreSQL's commits counted too) | "
          f"at {fmt(s2['offered_per_s'], 0)}: {fmt(s2['p99_ms'], 2)} ms{median_note(s2)}: "
          f"**{ratio(common[0]['p99_ms'], s2['p99_ms'])} ×**; at each load: {by_load(paired_sqlite)} | for reference |")
sc_rate, ic_rate = (sc or {}).get("offered_per_s"), (ic or {}).get("offered_per_s")
rc = sc_rate / ic_rate if sc_rate and ic_rate else None
p(f"| cluster: ≥ 2 × Socket.IO's sustained deliveries on two nodes | Salon {fmt(sc_rate, 0)}/s"
  f"{ceil(sc, clu['Salon (3 nodes)'])}, Socket.IO {fmt(ic_rate, 0)}/s: **{ratio(sc_rate, ic_rate)} ×** | "
  f"{verdict(rc and rc >= 2)} |")
p()

# Plots.
p("## Plots")
p()
for key in ("fanout_p99", "fanout_rate", "cluster_p99", "cluster_rate"):
    if plots[key]:
        p(f"![{key}]({plots[key]})")
        p()

# Tables.
p("## Every run")
p()
p("| scenario | server | label | sockets | offered/s | delivered/s | lost | dup | disorder | p50 ms | p99 ms | p99.9 ms | RSS MiB | CPU cores | more |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
extra_keys = ["ack_p50_ms", "ack_p99_ms", "ack_over_10ms_pct", "commit_over_10ms_pct", "commit_p99_le_ms", "acks_per_s", "rss_per_socket_kib", "removal_p50_ms", "removal_p99_ms",
              "deliveries_after_removal", "transactions_per_s", "messages_per_s"]
for r in rows:
    more = ", ".join(f"{k}={r[k]}" for k in extra_keys if k in r and r[k] is not None)
    server = r.get("target", "") + (f" ×{r['nodes']}" if r.get("nodes", 1) > 1 else "")
    p(f"| {r.get('scenario')} | {server} | {r.get('label', '')} | {fmt(r.get('connections'))} | "
      f"{fmt(r.get('offered_per_s'), 0)} | {fmt(r.get('deliveries_per_s'), 0)} | {fmt(r.get('lost'))} | "
      f"{fmt(r.get('duplicated'))} | {fmt(r.get('out_of_order'))} | {fmt(r.get('p50_ms'), 2)} | "
      f"{fmt(r.get('p99_ms'), 2)} | {fmt(r.get('p999_ms'), 2)} | {fmt(r.get('server_rss_mib'), 1)} | "
      f"{fmt(r.get('server_cpu_cores'), 2)} | {more} |")
p()
notes = os.path.join(os.path.dirname(out_dir), "benchmarks-notes.md")
if os.path.exists(notes):
    p(open(notes).read())
