"""Reports rendered from a results document: HTML, Markdown, JSON, JUnit XML and SARIF.

    paths = write_reports(doc, Path("reports/lab"), ["html", "md"])
    doc = documents.merge([documents.load(p) for p in paths])

Every renderer is a pure function of the document (no host is contacted), so
a saved or merged document renders exactly like the run that produced it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from remediate import results
from remediate.errors import RemediateError
from remediate.private_files import write_private
from remediate.report import documents

# format name -> (file name in the output directory, module of remediate.report whose render() writes it).
# Renderers are imported when used: every fleet task imports this package, few write reports.
FORMATS: dict[str, tuple[str, str | None]] = {
    "html": ("report.html", "html"),
    "md": ("report.md", "markdown"),
    "json": ("results.json", None),  # the results document itself
    "junit": ("junit.xml", "junit"),
    "sarif": ("results.sarif", "sarif"),
}
ALL = ",".join(FORMATS)


def parse_formats(spec: str | Iterable[str]) -> list[str]:
    """'html,md' or ['html', 'md'] -> known format names, in the order given, each once."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise RemediateError(f"unknown report format {', '.join(unknown) or '(none)'}: choose from {ALL}")
    return names


def write_reports(doc: dict, out_dir: Path, formats: str | Iterable[str] = ALL) -> list[Path]:
    """Render the document in each format into out_dir; returns the files written."""
    documents.check(doc, "results document")
    names = parse_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        filename, module = FORMATS[name]
        path = out_dir / filename
        if module is None:
            results.write(doc, path)
        else:
            write_private(path, importlib.import_module(f"remediate.report.{module}").render(doc))
        written.append(path)
    return written


def report_files(paths: Iterable[Path], out_dir: Path, formats: str | Iterable[str] = ALL) -> list[Path]:
    """`invoke report`: load one or more results documents, merge them, write the reports."""
    paths = list(paths)
    if not paths:
        raise RemediateError("no results file given")
    names = parse_formats(formats)
    doc = documents.merge([documents.load(Path(p)) for p in paths])
    return write_reports(doc, out_dir, names)


def paths_from(*specs: str | None) -> list[Path]:
    """Comma-separated file names (globs allowed: 'shards/*.json') -> paths, in order, each once."""
    paths: list[Path] = []
    for spec in specs:
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            if any(c in item for c in "*?["):
                matches = (
                    sorted(Path().glob(item))
                    if not Path(item).is_absolute()
                    else sorted(Path("/").glob(item.lstrip("/")))
                )
                if not matches:
                    raise RemediateError(f"no results file matches {item!r}")
                paths += matches
            else:
                paths.append(Path(item))
    return list(dict.fromkeys(paths))
