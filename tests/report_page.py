"""Reading the HTML report's host x check matrix back from the DOM a browser produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Row:
    host: str
    attrs: dict
    cells: dict[str, str] = field(default_factory=dict)  # check id -> status
    hidden_cells: set[str] = field(default_factory=set)

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs


class Matrix(HTMLParser):
    """Rows of table#matrix's body in DOM order, the column headers, and the body's data-ready flag."""

    def __init__(self, dom: str):
        super().__init__()
        self.rows: list[Row] = []
        self.columns: dict[str, dict] = {}
        self.ready = False
        self.shown = ""
        self._in_matrix = self._in_body = self._in_shown = False
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.ready = a.get("data-ready") == "true"
        elif tag == "table" and a.get("id") == "matrix":
            self._in_matrix = True
        elif self._in_matrix and tag == "tbody":
            self._in_body = True
        elif self._in_matrix and tag == "th" and "data-check" in a:
            self.columns[a["data-check"]] = a
        elif self._in_body and tag == "tr":
            self.rows.append(Row(a["data-host"], a))
        elif self._in_body and tag == "td" and "data-check" in a:
            self.rows[-1].cells[a["data-check"]] = a["data-status"]
            if "hidden" in a:
                self.rows[-1].hidden_cells.add(a["data-check"])
        elif tag == "span" and a.get("id") == "shown":
            self._in_shown = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_matrix = self._in_body = False
        elif tag == "span":
            self._in_shown = False

    def handle_data(self, data):
        if self._in_shown:
            self.shown += data

    def visible(self) -> list[str]:
        return [r.host for r in self.rows if not r.hidden]

    def cells_with(self, status: str) -> dict[str, set[str]]:
        return {r.host: {c for c, s in r.cells.items() if s == status} for r in self.rows}
