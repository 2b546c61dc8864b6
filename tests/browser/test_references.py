"""The built references page labels each paper exactly as the chapters cite it.

The text cites author-year ("Duchi et al., 2011"). A citation in a .md page ({cite}) links to an
entry of book/references.html, whose label must read the same (not pybtex's "DHS11"); a citation in
a chapter notebook is a plain Markdown link to the paper itself (so that it reads the same in
JupyterLab and on Colab), whose text must be that same label. Read from the built HTML (no browser
needed); see book/_ext/author_year_labels.py.
"""

from __future__ import annotations

import html
import re

from conftest import ROOT, SITE, built_pages

#: A citation: a link into the references page, and the text the reader sees (author and year,
#: or only the year when the author's name is part of the sentence).
CITATION = re.compile(r'<a class="reference internal" href="(?:\.\./book/)?references\.html#([\w-]+)"[^>]*>([^<]+)</a>')
#: A bibliography entry: its id, then its label between the brackets.
#: A link out of the book (a chapter's citation is a link to the paper).
LINK = re.compile(r'<a class="reference external" href="([^"]+)"[^>]*>([^<]+)</a>')
ENTRY = re.compile(r'<div class="citation" id="([\w-]+)"[^>]*>\s*<span class="label">'
                   r'<span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">\]</span>', re.S)


def test_reference_labels_read_as_the_citations() -> None:
    references = SITE / "book" / "references.html"
    assert references.is_file(), f"no built references page in {SITE}: run `make book` first"
    labels = {anchor: html.unescape(label) for anchor, label in ENTRY.findall(references.read_text("utf-8"))}
    assert len(labels) >= 10, labels
    assert all(re.fullmatch(r".+, (1[89]|20)\d\d", label) for label in labels.values()), labels
    mismatches, citations = [], 0
    for path in built_pages():
        page = (SITE / path).read_text("utf-8")
        for match in CITATION.finditer(page):
            anchor, text = match.group(1), html.unescape(match.group(2))
            # A textual citation ({cite:t}) links only the year: "Goh [2017]"; the author precedes it.
            before = html.unescape(re.sub(r"<[^>]+>", "", page[max(match.start() - 400, 0):match.start()]))
            cited = f"{before.rstrip('[( ').split(chr(10))[-1]}, {text}" if re.fullmatch(r"\d{4}", text) else text
            citations += 1
            if labels.get(anchor) is None or not cited.endswith(labels[anchor]):
                mismatches.append(f"{path}: cites {cited[-60:]!r}, the reference is labelled {labels.get(anchor)!r}")
    for path in built_pages():
        if path == references.relative_to(SITE).as_posix():
            continue  # the bibliography itself shows each entry's address as the link's text
        for url, text in LINK.findall((SITE / path).read_text("utf-8")):
            label = paper_labels().get(html.unescape(url))
            if label is None:
                continue
            citations += 1
            authors, year = label.rsplit(", ", 1)
            if html.unescape(text) not in (label, f"{authors} ({year})"):
                mismatches.append(f"{path}: the link to {url} reads {text!r}; the reference is labelled {label!r}")
    assert citations >= 10, "no citations found in the chapters"
    assert not mismatches, "\n".join(mismatches)


def paper_labels() -> dict[str, str]:
    """Each references.bib entry's link (url, doi or arXiv id) and its author-year label."""
    import sys

    from pybtex.database import parse_file

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import author_year_labels

    labels = {}
    for entry in parse_file(str(ROOT / "references.bib")).entries.values():
        fields = entry.fields
        url = fields.get("url") or (fields.get("doi") and "https://doi.org/" + fields["doi"]) or (
            fields.get("eprint") and "https://arxiv.org/abs/" + fields["eprint"])
        if url:
            labels[url] = author_year_labels.citation_text(entry)
    return labels
