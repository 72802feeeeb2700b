"""A small report document that renders to Markdown and to HTML, with CSV tables and PNG figures beside it.

Reports are built as a list of blocks (headings, paragraphs, tables, images)
so the Markdown and the HTML state the same facts. Every figure is written with
the CSV of the numbers it plots.
"""

from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Document:
    """An ordered list of blocks; each block is a tuple whose first item names its kind."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def table(self, headers: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", headers, rows))

    def image(self, file_name: str, caption: str) -> None:
        self.blocks.append(("image", file_name, caption))

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                lines += [f"## {block[1]}", ""]
            elif kind == "paragraph":
                lines += [block[1], ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                headers, rows = block[1], block[2]
                lines.append("| " + " | ".join(headers) + " |")
                lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
                lines += ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in rows]
                lines.append("")
            elif kind == "image":
                lines += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
                 f"<title>{html.escape(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
                 "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em}"
                 "td{text-align:right}td:first-child{text-align:left}img{max-width:100%}</style></head><body>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                parts.append(f"<h2>{html.escape(block[1])}</h2>")
            elif kind == "paragraph":
                parts.append(f"<p>{html.escape(block[1])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
                body = "".join("<tr>" + "".join(f"<td>{html.escape(format_cell(v))}</td>" for v in row) + "</tr>"
                               for row in block[2])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "image":
                source = html.escape(block[1], quote=True)
                caption = html.escape(block[2])
                parts.append(f"<figure><img src=\"{source}\" alt=\"{caption}\"><figcaption>{caption}</figcaption>"
                             "</figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        """Write ``stem.md`` and ``stem.html`` into ``folder``; returns both paths."""
        markdown = folder / f"{stem}.md"
        page = folder / f"{stem}.html"
        markdown.write_text(self.to_markdown(), encoding="utf-8")
        page.write_text(self.to_html(), encoding="utf-8")
        return markdown, page


def format_cell(value) -> str:
    """Format a table value: floats with four significant decimals, NaN as n/a."""
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def write_csv(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    """Write dict rows as CSV; floats keep full precision so the figures can be recomputed."""
    fieldnames = fieldnames or list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return path


def pyplot():
    """Import matplotlib's pyplot with the file-only Agg backend, or explain how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        from ..errors import TastemakerError

        raise TastemakerError("PNG figures need matplotlib, which is not installed; install it with "
                         "`pip install matplotlib` or pass --no-plots") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
