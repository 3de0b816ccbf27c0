"""The agent grid: tiles laid out to fit the terminal, paged when there are more than fit."""

from __future__ import annotations

import math

from textual.containers import Container
from textual.message import Message
from textual.reactive import reactive

from agentmux.tui.widgets.tile import AgentTile

MIN_TILE_WIDTH = 38
MIN_TILE_HEIGHT = 9


class AgentGrid(Container, can_focus=False):
    """Holds one tile per agent; shows one page of them at a time."""

    page: reactive[int] = reactive(0)
    """Which page of tiles is shown (0-based)."""

    class PageChanged(Message):
        """The visible tiles changed (a new page, a resize, agents added or removed)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.columns = 1
        self.rows = 1
        self._by_name: dict[str, AgentTile] = {}

    @property
    def tiles(self) -> list[AgentTile]:
        return [child for child in self.children if isinstance(child, AgentTile)]

    @property
    def per_page(self) -> int:
        return max(1, self.columns * self.rows)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.tiles) / self.per_page))

    def visible_names(self) -> set[str]:
        return {tile.agent for tile in self.tiles if tile.display}

    def tile(self, name: str) -> AgentTile | None:
        tile = self._by_name.get(name)
        if tile is None or tile.parent is not self:
            self._by_name = {t.agent: t for t in self.tiles}
            tile = self._by_name.get(name)
        return tile

    def reflow(self) -> None:
        """Fit as many tiles as the size allows (at least MIN_TILE_WIDTH x MIN_TILE_HEIGHT each)."""
        tiles = self.tiles
        width, height = self.size.width, self.size.height
        if not tiles or not width or not height:
            return
        count = len(tiles)
        max_columns = max(1, width // MIN_TILE_WIDTH)
        max_rows = max(1, height // MIN_TILE_HEIGHT)
        columns = min(count, max_columns)
        rows = min(max_rows, math.ceil(count / columns))
        if columns * rows >= count:
            # Everything fits: prefer a near-square arrangement that uses the whole height.
            columns = max(1, min(max_columns, math.ceil(count / rows)))
        self.columns, self.rows = columns, rows
        self.styles.grid_size_columns = columns
        self.styles.grid_size_rows = rows
        self.page = min(self.page, self.pages - 1)
        self._show_page()

    def _show_page(self) -> None:
        start = self.page * self.per_page
        for index, tile in enumerate(self.tiles):
            tile.display = start <= index < start + self.per_page
        self.post_message(self.PageChanged())

    def watch_page(self) -> None:
        self._show_page()

    def on_resize(self) -> None:
        self.reflow()

    def show_tile(self, tile: AgentTile) -> None:
        """Turn to the page that holds the tile."""
        index = self.tiles.index(tile)
        self.page = index // self.per_page

    def neighbour(self, tile: AgentTile, dx: int, dy: int) -> AgentTile | None:
        """The tile next to this one in the grid (across pages), or None at an edge."""
        tiles = self.tiles
        index = tiles.index(tile) + dx + dy * self.columns
        return tiles[index] if 0 <= index < len(tiles) else None
