"""bench/graph/python: one LangGraph graph, three checkpointers, one run.

The graph: plan -> act -> reply; each turn adds about 1.5 KB of messages to a
growing list (the human's, and one per node). THREADS conversations run at
once, TURNS turns each, with InMemorySaver, LangGraph's PostgresSaver on the
PostgreSQL memoryd uses, and MemorydSaver; ROUNDS rounds, the order of the
savers rotating each round. BENCH_GRAPH_MODE: async (default: ainvoke on one
event loop; AsyncPostgresSaver on a 16-connection pool, AsyncMemorydSaver),
sync (invoke from 16 OS threads; PostgresSaver on a pool, MemorydSaver), or
both. Prints turns/s
(the median round), the process's CPU ms a turn (the median round: user and
system time of this process, every thread, so the Python client's and
LangGraph's, not the server's; a figure that moves less than turns/s when other
work shares the cores), p50/p99 of one turn (every round's turns), and ratios; the
last line is JSON. A benchmark, not a test: exit 0 whatever the numbers,
unless BENCH_ENFORCE=1 and a target is missed (MemorydSaver at least 2x
PostgresSaver's turns/s and 0.5x InMemorySaver's).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from memoryd import AsyncMemorydSaver, MemorydSaver

THREADS = int(os.environ.get("BENCH_GRAPH_THREADS", "16"))
TURNS = int(os.environ.get("BENCH_GRAPH_TURNS", "25"))
ROUNDS = int(os.environ.get("BENCH_GRAPH_ROUNDS", "3"))
MEMORYD_URL = os.environ["MEMORYD_URL"]
DATABASE_URL = os.environ["DATABASE_URL"]
ENFORCE = os.environ.get("BENCH_ENFORCE", "0") == "1"
TEXT = "Lorem ipsum dolor sit amet, consectetur adipiscing elit; ünïcödé ✓. " * 5  # ~375 B


class State(TypedDict):
    messages: Annotated[list, add_messages]


def plan(state: State) -> dict:
    return {"messages": [AIMessage(f"plan {len(state['messages'])}: {TEXT}")]}


def act(state: State) -> dict:
    call = f"call-{len(state['messages'])}"
    return {
        "messages": [
            ToolMessage(f"result: {TEXT}", tool_call_id=call, name="search"),
        ]
    }


def reply(state: State) -> dict:
    return {"messages": [AIMessage(f"reply: {TEXT}")]}


def graph_with(checkpointer):
    b = StateGraph(State)
    b.add_node("plan", plan)
    b.add_node("act", act)
    b.add_node("reply", reply)
    b.add_edge(START, "plan")
    b.add_edge("plan", "act")
    b.add_edge("act", "reply")
    b.add_edge("reply", END)
    return b.compile(checkpointer=checkpointer)


def workload_sync(graph, run: str) -> tuple[float, list[float]]:
    """As workload, from THREADS OS threads (graph.invoke)."""
    from concurrent.futures import ThreadPoolExecutor

    latencies: list[float] = []

    def conversation(i: int) -> None:
        cfg = {"configurable": {"thread_id": f"{run}-{i}"}}
        for t in range(TURNS):
            t0 = time.perf_counter()
            out = graph.invoke({"messages": [HumanMessage(f"turn {t}: {TEXT}")]}, cfg)
            latencies.append(time.perf_counter() - t0)
            assert len(out["messages"]) == 4 * (t + 1)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(conversation, range(THREADS)))
    return time.perf_counter() - t0, latencies


async def workload(graph, run: str) -> tuple[float, list[float]]:
    """THREADS conversations at once, TURNS turns each: (seconds, per-turn seconds)."""
    latencies: list[float] = []

    async def conversation(i: int) -> None:
        cfg = {"configurable": {"thread_id": f"{run}-{i}"}}
        for t in range(TURNS):
            t0 = time.perf_counter()
            out = await graph.ainvoke({"messages": [HumanMessage(f"turn {t}: {TEXT}")]}, cfg)
            latencies.append(time.perf_counter() - t0)
            assert len(out["messages"]) == 4 * (t + 1)

    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(i) for i in range(THREADS)))
    return time.perf_counter() - t0, latencies


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def async_savers() -> tuple[dict, list]:
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    pool = AsyncConnectionPool(
        DATABASE_URL, min_size=THREADS, max_size=THREADS, open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True)
    pg = AsyncPostgresSaver(pool)
    await pg.setup()
    md = AsyncMemorydSaver(MEMORYD_URL, tenant="bench-graph-" + uuid.uuid4().hex[:8])
    return {"InMemorySaver": InMemorySaver(), "PostgresSaver": pg, "MemorydSaver": md}, [md.aclose, pool.close]


def sync_savers() -> tuple[dict, list]:
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
    from langgraph.checkpoint.postgres import PostgresSaver

    pool = ConnectionPool(
        DATABASE_URL, min_size=THREADS, max_size=THREADS, open=True,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    pool.wait()
    pg = PostgresSaver(pool)
    pg.setup()
    md = MemorydSaver(MEMORYD_URL, tenant="bench-graph-" + uuid.uuid4().hex[:8])
    return {"InMemorySaver": InMemorySaver(), "PostgresSaver": pg, "MemorydSaver": md}, [md.close, pool.close]


async def run_mode(mode: str) -> dict:
    savers, closers = await async_savers() if mode == "async" else sync_savers()
    graphs = {name: graph_with(s) for name, s in savers.items()}
    names = list(savers)

    async def one(name: str, run: str) -> tuple[float, list[float]]:
        if mode == "async":
            return await workload(graphs[name], run)
        return await asyncio.to_thread(workload_sync, graphs[name], run)

    # Warm-up: connections, caches, imports (not timed).
    for name in names:
        await one(name, f"warm-{name}-{uuid.uuid4().hex[:6]}")

    rates: dict[str, list[float]] = {n: [] for n in names}
    lats: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for r in range(ROUNDS):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            cpu0 = time.process_time()
            secs, lat = await one(name, f"r{r}-{name}-{uuid.uuid4().hex[:6]}")
            cpus[name].append((time.process_time() - cpu0) * 1000 / (THREADS * TURNS))
            rates[name].append(THREADS * TURNS / secs)
            lats[name] += lat
            print(f"{mode} round {r + 1} {name:14s} {THREADS * TURNS / secs:8.1f} turns/s", file=sys.stderr)
    for close in closers:
        res = close()
        if asyncio.iscoroutine(res):
            await res

    result: dict = {"mode": mode, "threads": THREADS, "turns": TURNS, "rounds": ROUNDS, "savers": {}}
    how = "ainvoke, one event loop" if mode == "async" else f"invoke, {THREADS} OS threads"
    print(f"\nLangGraph graph bench, {mode} ({how}; plan, act, reply; ~1.5 KB per turn): "
          f"{THREADS} threads x {TURNS} turns, {ROUNDS} rounds")
    print(f"{'saver':15s} {'turns/s':>9s} {'CPU ms':>8s} {'p50 ms':>8s} {'p99 ms':>8s}   (turns/s of each round)")
    for name in names:
        rate = statistics.median(rates[name])
        p50, p99 = pct(lats[name], 50) * 1000, pct(lats[name], 99) * 1000
        cpu = statistics.median(cpus[name])
        result["savers"][name] = {"turns_per_s": round(rate, 1), "cpu_ms_per_turn": round(cpu, 2),
                                  "p50_ms": round(p50, 2),
                                  "p99_ms": round(p99, 2), "rounds": [round(x, 1) for x in rates[name]]}
        print(f"{name:15s} {rate:9.1f} {cpu:8.2f} {p50:8.2f} {p99:8.2f}   "
              f"{', '.join(f'{x:.1f}' for x in rates[name])}")
    m = result["savers"]["MemorydSaver"]["turns_per_s"]
    vs_pg = m / result["savers"]["PostgresSaver"]["turns_per_s"]
    vs_mem = m / result["savers"]["InMemorySaver"]["turns_per_s"]
    result["ratios"] = {"memoryd_vs_postgres": round(vs_pg, 2), "memoryd_vs_inmemory": round(vs_mem, 2)}
    result["targets_met"] = vs_pg >= 2.0 and vs_mem >= 0.5
    print(f"MemorydSaver / PostgresSaver: {vs_pg:.2f}x (target >= 2)")
    print(f"MemorydSaver / InMemorySaver: {vs_mem:.2f}x (target >= 0.5)")
    print(json.dumps(result))
    return result


async def main() -> int:
    mode = os.environ.get("BENCH_GRAPH_MODE", "async")
    modes = ["async", "sync"] if mode == "both" else [mode]
    results = [await run_mode(m) for m in modes]
    return 1 if ENFORCE and not all(r["targets_met"] for r in results) else 0


async def workload_small(graph, run: str) -> None:
    cfg = {"configurable": {"thread_id": run}}
    for t in range(3):
        await graph.ainvoke({"messages": [HumanMessage(f"warm {t}")]}, cfg)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
