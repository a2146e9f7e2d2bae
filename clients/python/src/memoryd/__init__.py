"""memoryd for LangGraph and LangChain (Python).

MemorydSaver / AsyncMemorydSaver: checkpoint savers (BaseCheckpointSaver) over /checkpoints.
MemorydStore / AsyncMemorydStore: long-term memory (BaseStore) over /memory.
MemorydChatMessageHistory: a LangChain chat message history over /conversations.
"""

from ._http import MemorydError, RetryPolicy
from .history import MemorydChatMessageHistory
from .saver import AsyncMemorydSaver, MemorydSaver
from .store import AsyncMemorydStore, MemorydStore

__all__ = [
    "AsyncMemorydSaver",
    "AsyncMemorydStore",
    "MemorydChatMessageHistory",
    "MemorydError",
    "MemorydSaver",
    "MemorydStore",
    "RetryPolicy",
]
__version__ = "0.1.0"
