#!/usr/bin/env python3
"""Expensive requests beside cheap ones (issue 15 item 8): tests/ops/heavy.sh
and bench/heavy.sh.

  heavy.py seed URL TENANT ITEMS CHECKPOINTS
      GET_THREADS threads bench-get-0..7 with one checkpoint each (what
      get-latest reads), CHECKPOINTS ~10 KB checkpoints in thread "heavy"
      (a list page of them is RESPONSE_MAX_BYTES), and ITEMS /memory items
      under namespace ["heavy"] (a search whose filter matches none reads
      them all).
  heavy.py load URL TENANT CONNECTIONS SECONDS KIND
      CONNECTIONS processes, each on one keep-alive connection, sending
      heavy requests of KIND (search, list, mix) back to back for SECONDS;
      prints {"requests", "statuses", "p50_ms", "max_ms"}.
  heavy.py phases URL TENANT CONNECTIONS KIND ROUNDS WARMUP -- CMD...
      bench/heavy.sh: ROUNDS rounds of two phases, CMD alone and CMD while
      CONNECTIONS keep-alive connections send heavy requests of KIND back
      to back (they begin WARMUP seconds before CMD; an alone phase begins
      once every heavy request sent has been answered). Odd rounds run
      alone then beside, even ones beside then alone, so a drift of the
      machine's load falls on both. CMD runs with PHASE=alone or beside in
      its environment. One JSON line a phase: {"round", "phase", "result":
      CMD's last stdout line, parsed, "server": the share of the phase's
      get-latest requests memoryd itself took over 1, 2.5, 5 and 10 ms (its
      /metrics histogram), "heavy": the phase's heavy requests, as load's}.
  heavy.py gets URL TENANT SECONDS
      get-latest (GET /checkpoints/bench-get-N) back to back on one
      keep-alive connection for SECONDS; prints {"requests", "statuses",
      "p50_ms", "p99_ms", "max_ms"}.
"""
import http.client
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import time
import urllib.parse

BLOB = "A" * 3400  # base64 text, as bench/lib.sh's blobs


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def call(c, method, path, tenant, body=None):
    headers = {"X-Tenant-Id": tenant}
    if body is not None:
        body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    if r.status == 503 and r.getheader("Retry-After") != "1":
        return "503 without Retry-After", data
    return r.status, data


def checkpoint(thread, cid, parent):
    return {
        "thread_id": thread, "checkpoint_ns": "", "checkpoint_id": cid,
        "parent_checkpoint_id": parent,
        "checkpoint": {"v": 4, "id": cid, "ts": "2024-07-31T20:14:19.804150+00:00",
                       "channel_versions": {"messages": cid + ".1", "scratch": cid + ".2",
                                            "summary": cid + ".3"},
                       "versions_seen": {}, "pending_sends": []},
        "metadata": {"source": "loop", "step": 1, "writes": None, "parents": {}},
        "blobs": [{"channel": ch, "version": cid + "." + str(k + 1), "type": "json",
                   "data": BLOB} for k, ch in enumerate(("messages", "scratch", "summary"))],
    }


def seed(url, tenant, items, checkpoints):
    c = conn_for(url)
    for t in range(8):
        st, _ = call(c, "POST", "/checkpoints", tenant, checkpoint("bench-get-%d" % t, "1", None))
        assert st == 201, st
    parent = None
    for k in range(checkpoints):
        cid = "%08d" % k
        st, _ = call(c, "POST", "/checkpoints", tenant, checkpoint("heavy", cid, parent))
        assert st == 201, (st, cid)
        parent = cid
    value = {"text": "x" * 200, "kind": "note"}
    for start in range(0, items, 1000):
        ops = [{"op": "put", "namespace": ["heavy"], "key": "k%07d" % i, "value": value}
               for i in range(start, min(items, start + 1000))]
        st, body = call(c, "POST", "/memory/batch", tenant, {"operations": ops})
        assert st == 200, (st, body[:300])


def heavy_request(c, tenant, kind, n):
    if kind == "list" or (kind == "mix" and n % 2):
        return call(c, "GET", "/checkpoints?thread_id=heavy&limit=1000", tenant)
    return call(c, "POST", "/memory/search", tenant,
                {"namespace_prefix": ["heavy"], "filter": {"kind": "none"}, "limit": 1000})


def heavy_worker(url, tenant, seconds, kind, out):
    c = conn_for(url)
    lat, statuses, n = [], {}, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            st, _ = heavy_request(c, tenant, kind, n)
        except (OSError, http.client.HTTPException):
            statuses["error"] = statuses.get("error", 0) + 1  # memoryd stopping: tests/ops/heavy.sh
            break
        lat.append((time.monotonic() - t0) * 1e3)
        statuses[st] = statuses.get(st, 0) + 1
        n += 1
    out.put((lat, statuses))


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p / 100))], 3) if xs else None


def summary(lat, statuses):
    return {"requests": len(lat), "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
            "max_ms": round(max(lat), 3) if lat else None}


def load(url, tenant, nconn, seconds, kind):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=heavy_worker, args=(url, tenant, seconds, kind, q))
          for _ in range(nconn)]
    for p in ps:
        p.start()
    lat, statuses = [], {}
    for _ in ps:
        lt, st = q.get()
        lat += lt
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
    for p in ps:
        p.join()
    print(json.dumps(summary(lat, statuses)))


def toggled_worker(url, tenant, kind, go, busy, out):
    """Heavy requests back to back while go is set. busy counts requests
    under way: it goes up before go is read, so once go is cleared and busy
    is 0, no request is under way or about to be sent."""
    c = conn_for(url)
    n = 0
    while True:
        with busy.get_lock():
            busy.value += 1
        if not go.is_set():
            with busy.get_lock():
                busy.value -= 1
            go.wait()
            continue
        t0 = time.monotonic()
        try:
            st, _ = heavy_request(c, tenant, kind, n)
        except (OSError, http.client.HTTPException):
            st = "error"
            c.close()
            c = conn_for(url)
        out.put(((time.monotonic() - t0) * 1e3, st))
        n += 1
        with busy.get_lock():
            busy.value -= 1


GET_ROUTE = 'http_request_duration_seconds_bucket{route="/checkpoints/{thread_id}",le="'


def get_buckets(url):
    """memoryd's histogram of get-latest durations: {le: count}."""
    c = conn_for(url)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        if line.startswith(GET_ROUTE):
            le, n = line[len(GET_ROUTE):].split('"} ')
            out[le] = float(n)
    return out


def over(before, after):
    d = {le: after[le] - before.get(le, 0) for le in after}
    total = d.get("+Inf", 0)
    return {"over_%s_ms" % name: round(1 - d[le] / total, 5) if total else None
            for name, le in (("1", "0.001"), ("2_5", "0.0025"), ("5", "0.005"), ("10", "0.01"))}


def phases(url, tenant, nconn, kind, rounds, warmup, cmd):
    go, busy, out = multiprocessing.Event(), multiprocessing.Value("i", 0), multiprocessing.Queue()
    ps = [multiprocessing.Process(target=toggled_worker, args=(url, tenant, kind, go, busy, out),
                                  daemon=True) for _ in range(nconn)]
    for p in ps:
        p.start()

    def drain():
        lat, statuses = [], {}
        while True:
            try:
                ms, st = out.get_nowait()
            except queue.Empty:
                return lat, statuses
            lat.append(ms)
            statuses[st] = statuses.get(st, 0) + 1

    def run(rnd, phase):
        if phase == "beside":
            drain()
            go.set()
            time.sleep(warmup)
        b0 = get_buckets(url)
        r = subprocess.run(cmd, env=dict(os.environ, PHASE=phase), stdout=subprocess.PIPE,
                           check=True, text=True)
        server = over(b0, get_buckets(url))
        heavy = None
        if phase == "beside":
            go.clear()
            while busy.value:
                time.sleep(0.01)
            time.sleep(0.05)  # the last answers reach the queue
            heavy = summary(*drain())
        line = r.stdout.strip().splitlines()[-1]
        print(json.dumps({"round": rnd, "phase": phase, "result": json.loads(line),
                          "server": server, "heavy": heavy}), flush=True)

    for rnd in range(1, rounds + 1):
        for phase in (("alone", "beside") if rnd % 2 else ("beside", "alone")):
            run(rnd, phase)
    for p in ps:
        p.terminate()


def gets(url, tenant, seconds):
    c = conn_for(url)
    lat, statuses, n = [], {}, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        st, _ = call(c, "GET", "/checkpoints/bench-get-%d" % (n % 8), tenant)
        lat.append((time.monotonic() - t0) * 1e3)
        statuses[st] = statuses.get(st, 0) + 1
        n += 1
    print(json.dumps(summary(lat, statuses)))


def main():
    cmd, url, tenant = sys.argv[1:4]
    if cmd == "seed":
        seed(url, tenant, int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "load":
        load(url, tenant, int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    elif cmd == "phases":
        i = sys.argv.index("--")
        phases(url, tenant, int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), float(sys.argv[7]),
               sys.argv[i + 1:])
    elif cmd == "gets":
        gets(url, tenant, float(sys.argv[4]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
