"""report.html: report.md as a self-contained page, its plots embedded.

Why from report.md and not from report.json: the page must show the same
tables as report.md, and the surest way is to draw it from that text. The
markdown is ours (codegen/report.py, codegen/report_layers.py) and uses a
small subset: ``#``/``##`` headings, paragraphs, pipe tables, one fenced
block, inline code and images; this converts exactly that subset. Every
piece of text is HTML-escaped (a model or layer name comes from a user's
file), an image ``![caption](report_x.png)`` becomes the plot's PNG as a
base64 ``data:`` URI wrapped in a link to the file beside the page, and the
page frame with its inline CSS is codegen/templates/report.html.in: no
script, nothing fetched.
"""

from __future__ import annotations

import base64
import html
import re
from importlib import resources
from string import Template

TEMPLATE = "report.html.in"
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([\w.-]+\.png)\)$")
_NUMBER = re.compile(r"^[-+]?[\d,.]+( \(\+[\d,]+\))?%?$")


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    out = ['<div class="wide"><table>',
           "<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead>", "<tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{_inline(c)}</td>' if _NUMBER.match(c) else
                                    f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
    return "\n".join(out + ["</tbody>", "</table></div>"])


def _image(caption: str, name: str, plots: dict[str, bytes]) -> str:
    data = base64.b64encode(plots[name]).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (f'<figure><a href="{html.escape(name, quote=True)}"><img src="data:image/png;base64,{data}" '
            f'alt="{alt}"></a><figcaption>{html.escape(caption)} ({html.escape(name)})</figcaption></figure>')


def markdown_to_html(text: str, plots: dict[str, bytes]) -> str:
    """The HTML body of our markdown ``text``; ``plots`` maps an image's file name to its PNG bytes."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:end])) + "</pre>")
            i = end + 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
            out.append(_table(lines[i:end]))
            i = end
        elif _IMAGE.match(line):
            out.append(_image(*_IMAGE.match(line).groups(), plots))
            i += 1
        else:
            end = next((j for j in range(i, len(lines))
                        if not lines[j].strip() or lines[j].startswith(("#", "|", "```"))), len(lines))
            out.append("<p>" + _inline(" ".join(lines[i:end])) + "</p>")
            i = end
    return "\n".join(out)


def render_html(report: dict, markdown: str, plots: dict[str, bytes]) -> str:
    """report.html from report.md's text and the plots it names."""
    frame = Template(resources.files("mbmicro.codegen").joinpath("templates", TEMPLATE).read_text())
    return frame.substitute(title=html.escape(f"mbmicro report: {report['model_name']} on {report['target']}"),
                            body=markdown_to_html(markdown, plots))
