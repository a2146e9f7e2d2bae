"""Seed 002's workers: `start` runs a graph on many threads until each stops at
interrupt(); `resume` (another process) answers them all. Prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from memoryd import AsyncMemorydSaver, MemorydSaver


class State(TypedDict, total=False):
    topic: str
    started_pid: int
    questions: list[str]
    answers: dict
    resumed_pid: int
    result: str


def initiate(state: State) -> dict:
    return {"started_pid": os.getpid(), "questions": [f"q{i} über {state['topic']}?" for i in range(1, 6)]}


def ask(state: State) -> dict:
    answers = interrupt({"questions": state["questions"]})
    return {"answers": answers, "resumed_pid": os.getpid()}


def generate(state: State) -> dict:
    text = "; ".join(f"{q} -> {state['answers'][q]}" for q in state["questions"])
    return {"result": f"Antrag zu {state['topic']}: {text}"}


def build():
    b = StateGraph(State)
    b.add_node("initiate", initiate)
    b.add_node("ask", ask)
    b.add_node("generate", generate)
    b.add_edge(START, "initiate")
    b.add_edge("initiate", "ask")
    b.add_edge("ask", "generate")
    b.add_edge("generate", END)
    return b


def start(url: str, tenant: str, threads: list[str]) -> dict:
    with MemorydSaver.from_url(url, tenant=tenant) as saver:
        graph = build().compile(checkpointer=saver)

        def one(tid: str) -> bool:
            out = graph.invoke({"topic": f"Windkraft {tid}"}, {"configurable": {"thread_id": tid}})
            return bool(out.get("__interrupt__"))

        with ThreadPoolExecutor(16) as pool:
            interrupted = sum(pool.map(one, threads))
    return {"pid": os.getpid(), "interrupted": interrupted}


async def resume(url: str, tenant: str, threads: list[str]) -> dict:
    async with AsyncMemorydSaver.from_url(url, tenant=tenant) as saver:
        graph = build().compile(checkpointer=saver)

        async def one(tid: str) -> bool:
            cfg = {"configurable": {"thread_id": tid}}
            state = await graph.aget_state(cfg)
            questions = state.tasks[0].interrupts[0].value["questions"]
            out = await graph.ainvoke(Command(resume={q: f"Antwort {tid}" for q in questions}), cfg)
            return "result" in out

        done = await asyncio.gather(*(one(t) for t in threads))
    return {"pid": os.getpid(), "completed": sum(done)}


if __name__ == "__main__":
    mode, url, tenant, *threads = sys.argv[1:]
    result = start(url, tenant, threads) if mode == "start" else asyncio.run(resume(url, tenant, threads))
    print(json.dumps(result))
