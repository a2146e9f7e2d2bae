"""Seed 002: a graph interrupts in one process and is resumed in another, many
threads at once (the production bug: MemorySaver kept the state in the worker
that asked the questions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from interrupt_worker import build

from memoryd import MemorydSaver

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(mode: str, url: str, tenant: str, threads: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "interrupt_worker.py"), mode, url, tenant, *threads],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_interrupt_in_one_process_resume_in_another(url, tenant, stored) -> None:
    threads = [f"exp_{i}_{uuid.uuid4().hex[:6]}" for i in range(40)]
    a = _run("start", url, tenant, threads)
    assert a["interrupted"] == len(threads)

    with MemorydSaver(url, tenant=tenant) as saver:
        graph = build().compile(checkpointer=saver)
        for tid in threads:
            state = graph.get_state({"configurable": {"thread_id": tid}})
            assert state.next == ("ask",)
            assert state.values["started_pid"] == a["pid"]
            assert stored.checkpoint_ids(tenant, tid)  # in memoryd's store, not in process A

        b = _run("resume", url, tenant, threads)
        assert b["completed"] == len(threads)
        assert b["pid"] != a["pid"]

        for tid in threads:
            state = graph.get_state({"configurable": {"thread_id": tid}})
            assert state.next == ()
            values = state.values
            assert (values["started_pid"], values["resumed_pid"]) == (a["pid"], b["pid"])
            assert values["result"].startswith(f"Antrag zu Windkraft {tid}: q1 über Windkraft {tid}? -> Antwort {tid}")
            ids = stored.checkpoint_ids(tenant, tid)
            assert ids == sorted(t.config["configurable"]["checkpoint_id"] for t in saver.list(
                {"configurable": {"thread_id": tid}}))
