"""How many uploads the explorer takes at once, how many of their pixels it decodes at once, and handing
their memory back once they are done.

An upload's body is read only once it holds one of SLOTS: until then uvicorn stops reading a body the app
has not asked for (64 kB in, the rest waits in the kernel), so a burst of 200 five-megabyte uploads holds
a few bodies in memory rather than a gigabyte. Past QUEUE waiting uploads, or after WAIT seconds in the
queue, an upload is answered 503 with Retry-After; its body is read and dropped first, chunk by chunk, so
the client gets the answer instead of a reset while still sending.
scripts/explorer_upload_memory.py measures the effect.

A small file can hold a large image: a white 62-megapixel PNG is 201 kB and 186 MB decoded. The slots bound
the files; DECODING bounds their pixels, decoded at once on the request threads, to one image at the limit.

glibc keeps freed memory in each thread's arena; decoding uploads on the request thread pool scatters
their pages over many arenas, and the process kept a gigabyte after a burst. malloc_trim hands it back
once no upload is in, refused ones included.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

logger = logging.getLogger(__name__)

SLOTS = 2  # uploads read and decoded at once: each may hold a 16 MB body and its decoded pixels
QUEUE = 6  # uploads waiting for a slot; past these the answer is 503 at once
WAIT = 5.0  # seconds an upload may wait for a slot: well inside the server's 10 s to read a request
PIXELS = 64 * 1024 * 1024  # decoded at once: one image at the pixel limit (data.folder.MAX_PIXELS), or several


def find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = find_malloc_trim()


def trim_memory() -> None:
    """Return the C heap's free pages to the system (every arena's, since glibc 2.8)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


class UploadGate:
    """SLOTS uploads at once, QUEUE more waiting; one per app, used from its event loop only."""

    def __init__(self, slots: int = SLOTS, queue: int = QUEUE, wait: float = WAIT) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.queue = queue
        self.wait = wait
        self.active = 0
        self.waiting = 0
        self.refusing = 0  # turned away, their bodies still being read and dropped

    async def enter(self) -> bool:
        """Take a slot, waiting in the queue if there is room; False: call turn_away."""
        if self.slots.locked() and self.waiting >= self.queue:
            return False
        self.waiting += 1
        try:
            await asyncio.wait_for(self.slots.acquire(), self.wait)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        self.active += 1
        return True

    async def leave(self) -> None:
        self.active -= 1
        self.slots.release()
        await self.trim_when_idle()

    async def turn_away(self, request: Request) -> None:
        """Read the body and drop it, a chunk at a time: the client is told 503, not reset mid-send."""
        self.refusing += 1
        try:
            async for _ in request.stream():
                pass
        finally:
            self.refusing -= 1
        await self.trim_when_idle()

    async def trim_when_idle(self) -> None:
        """Once no upload is in (dropped bodies too), hand their freed memory back: a burst is over."""
        if self.active == self.waiting == self.refusing == 0:
            await run_in_threadpool(trim_memory)


async def read_body(request: Request) -> bytes:
    """The body, not cached on the request as Request.body() does until the response has gone out."""
    return b"".join([chunk async for chunk in request.stream()])


class PixelBudget:
    """At most `pixels` of images decoded at once, across threads; an image takes its width x height (all of the
    budget at most) and waits until that much is free. When the last decode in flight ends, the C heap is
    trimmed: each request thread decodes in its own glibc arena, which kept the freed pixels of the one before
    while the next thread's arena took as much again."""

    def __init__(self, pixels: int = PIXELS) -> None:
        self.total = self.free = pixels
        self.changed = threading.Condition()

    @contextmanager
    def held(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.total)
        with self.changed:
            self.changed.wait_for(lambda: self.free >= pixels)
            self.free -= pixels
        try:
            yield
        finally:
            with self.changed:
                self.free += pixels
                self.changed.notify_all()
                idle = self.free == self.total
            if idle:
                trim_memory()


DECODING = PixelBudget()  # one per process: every explorer app in it decodes on the same memory
