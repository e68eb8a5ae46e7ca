"""A small LRU of serialized list pages, keyed by request and data version.

Any write bumps the collection's version, so a cached page is never stale; the cache
only helps when the same page is read again unchanged (retries, repeated benchmarks).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class PageCache:
    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        page = self._pages.get(key)
        if page is None:
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return page

    def put(self, key: Hashable, page: bytes) -> None:
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
