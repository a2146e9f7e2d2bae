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
  heavy.py gets URL TENANT SECONDS
      get-latest (GET /checkpoints/bench-get-N) back to back on one
      keep-alive connection for SECONDS; prints {"requests", "statuses",
      "p50_ms", "p99_ms", "max_ms"}.
"""
import http.client
import json
import multiprocessing
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
    elif cmd == "gets":
        gets(url, tenant, float(sys.argv[4]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
