#!/usr/bin/env python3
"""Write load and its ledger for tests/ops/cluster_failover.sh.

  cluster_load.py write URL TENANT WRITERS WORK
      WRITERS threads, each on a keep-alive connection of its own, until
      WORK/stop exists: a checkpoint put (thread cf-t<k>) and a conversation
      append of one message with an id (conversation cf-c<k>) in turn, k
      cycling over NAMES names, so every primary's slots are written. Each
      2xx is appended to WORK/ledger as "<ns> <kind> <name> <id>" before the
      next request; the statuses over the run go to WORK/codes.json.
  cluster_load.py check URL TENANT WORK
      every acknowledged write read back through memoryd (a checkpoint by
      GET /checkpoints/<thread>?checkpoint_id=, messages by paging
      GET .../messages?after_seq=); prints the counts and exits 1 when one is
      missing.
  cluster_load.py shards TENANT WORK NODES T0_NS T1_NS
      NODES is CLUSTER NODES' text (a file). For each primary (by the slots
      it serves now): the writes acknowledged on its slots, the longest wait
      between two of them from T0_NS (the failover) on, which is the gap the
      writers saw, and how long after T1_NS (the promotion) the first came,
      in ms.
"""
import collections
import http.client
import json
import os
import sys
import threading
import time

import heavy  # tests/ops/heavy.py: conn_for, call

NAMES = 24


def slot_of(tag):
    crc = 0
    for b in tag.encode():
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % 16384


def conn_for(url):
    c = heavy.conn_for(url)
    c.timeout = 10
    return c


def write(url, tenant, writers, work):
    lock = threading.Lock()
    codes = collections.Counter()
    ledger = open(os.path.join(work, "ledger"), "a", buffering=1)
    stop = os.path.join(work, "stop")

    def writer(w):
        c = conn_for(url)
        i = 0
        while not os.path.exists(stop):
            i += 1
            k = (i * 7 + w * 5) % NAMES
            if i % 2:
                kind, name, ident = "ck", "cf-t%d" % k, "1ef%02d%012d" % (w, i)
                body = {"thread_id": name, "checkpoint_id": ident,
                        "checkpoint": {"id": ident, "channel_versions": {}}}
                path = "/checkpoints"
            else:
                kind, name, ident = "msg", "cf-c%d" % k, "w%d-%d" % (w, i)
                body = {"messages": [{"id": ident, "role": "user", "content": "m " + ident}]}
                path = "/conversations/%s/messages" % name
            try:
                status, _ = heavy.call(c, "POST", path, tenant, body)
            except (OSError, http.client.HTTPException):
                status = 0
                c.close()
                c = conn_for(url)
                time.sleep(0.01)
            with lock:
                codes[status] += 1
                if isinstance(status, int) and 200 <= status < 300:
                    ledger.write("%d %s %s %s\n" % (time.time_ns(), kind, name, ident))
            if not isinstance(status, int) or status >= 500:
                time.sleep(0.01)
        c.close()

    ts = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ledger.close()
    with open(os.path.join(work, "codes.json"), "w") as f:
        json.dump({str(k): v for k, v in sorted(codes.items())}, f)


def read_ledger(work):
    with open(os.path.join(work, "ledger")) as f:
        for line in f:
            at, kind, name, ident = line.split()
            yield int(at), kind, name, ident


def check(url, tenant, work):
    cks, msgs = [], collections.defaultdict(set)
    for _, kind, name, ident in read_ledger(work):
        if kind == "ck":
            cks.append((name, ident))
        else:
            msgs[name].add(ident)
    c = conn_for(url)
    missing = []
    for name, ident in cks:
        path = "/checkpoints/%s?checkpoint_id=%s" % (name, ident)
        status, body = heavy.call(c, "GET", path, tenant)
        if status != 200 or json.loads(body)["checkpoint"]["id"] != ident:
            missing.append("checkpoint %s/%s: %d" % (name, ident, status))
    for name, want in msgs.items():
        have, after = set(), 0
        while True:
            status, body = heavy.call(
                c, "GET", "/conversations/%s/messages?limit=1000&after_seq=%d" % (name, after),
                tenant)
            if status != 200:
                missing.append("conversation %s: %d" % (name, status))
                break
            page = json.loads(body)["messages"]
            have.update(m["id"] for m in page)
            if not page:
                break
            after = page[-1]["seq"]
        missing += ["message %s/%s" % (name, i) for i in sorted(want - have)]
    nmsg = sum(len(v) for v in msgs.values())
    print(json.dumps({"checkpoints": len(cks), "messages": nmsg, "missing": len(missing),
                      "first_missing": missing[:10]}))
    return 1 if missing else 0


def shards(tenant, work, nodes_file, t0, t1):
    owner = {}
    with open(nodes_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                continue
            addr = parts[1].split("@")[0]
            for r in parts[8:]:
                if r.startswith("["):
                    continue
                lo, _, hi = r.partition("-")
                for s in range(int(lo), int(hi or lo) + 1):
                    owner[s] = addr
    out = {}
    for at, _, name, _ in read_ledger(work):
        addr = owner.get(slot_of("%s:%s" % (tenant, name)), "?")
        o = out.setdefault(addr, {"acked": 0, "last": None, "gap": 0, "first_after": None})
        o["acked"] += 1
        if at > t1 and o["first_after"] is None:
            o["first_after"] = at
        if at > t0 and o["last"] is not None:
            o["gap"] = max(o["gap"], at - o["last"])
        o["last"] = at
    for addr, o in sorted(out.items()):
        after = None if o["first_after"] is None else (o["first_after"] - t1) // 1000000
        print("%s: %d writes acknowledged; the longest wait between two from T0 on: %d ms; "
              "the first %s ms after the promotion" % (addr, o["acked"], o["gap"] // 1000000, after))
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "write":
        write(argv[2], argv[3], int(argv[4]), argv[5])
        return 0
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4])
    if len(argv) == 7 and argv[1] == "shards":
        return shards(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
