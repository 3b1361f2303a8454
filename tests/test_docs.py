"""The dbt docs site as a person sees it: dbt builds a tiny generated dataset landed in a local
folder, `dbt docs generate` writes the site, a local HTTP server serves it (the single-page app
fetches manifest.json and catalog.json by XHR, so file:// would not do) and headless Chromium
opens it. The checks read the DOM Chromium dumps once the app has run, and the screenshots it
takes: the sidebar lists the models, a model page shows its description and the columns of the
catalog, and the lineage graph draws one box per node of the model's lineage.

Needs Debian's `chromium` (.ci/run installs it). Without it the test is skipped, except in CI
(CI set), where it fails."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts import generate_movielens as gen
from scripts import upload
from tests.dbt_runner import dbt_env, run_dbt

SCALE = 0.001
SEED = 1
PROJECT = "movielens"
MODEL = "mart_movie_stats"
MODEL_ID = f"model.{PROJECT}.{MODEL}"
SIDEBAR_MODELS = ("mart_movie_stats", "fct_ratings", "dim_movies")  # named in the issue
WIDTH, HEIGHT = 1400, 900
CHROMIUM_TIMEOUT = 60  # seconds, per Chromium run
VIRTUAL_TIME_MS = 15000  # Chromium waits for the page's network and timers up to this budget
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    f"--virtual-time-budget={VIRTUAL_TIME_MS}",
    f"--window-size={WIDTH},{HEIGHT}",
]

# Fill colours of the lineage graph's nodes (cytoscape style in dbt docs' index.html).
NODE_COLOURS = {
    "default": "0094b3",  # models, seeds, snapshots, analyses, singular and unit tests
    "source": "5fb825",
    "exposure": "ff694b",
    "metric": "ff5688",
    "semantic_model": "ffa8c2",
    "saved_query": "ff7f50",
    "function": "d4a017",
    "python": "6a5acd",
}


# --- Chromium --------------------------------------------------------------------------


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}: the docs-site test must run in CI")
        pytest.skip(message)
    return binary


@dataclass
class Page:
    dom: Element
    screenshot: Path


def open_page(chromium: str, url: str, out_dir: Path, name: str) -> Page:
    """Load url in headless Chromium: the DOM after the app ran, and a screenshot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={out_dir / f'{name}-profile'}",
        f"--screenshot={png}",
        "--dump-dom",
        url,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT}s: {url}") from exc
    finally:
        shutil.rmtree(out_dir / f"{name}-profile", ignore_errors=True)
    noise = ("dbus", "unexpected operator")  # no session bus in a container; Debian's launcher script
    errors = "\n".join(line for line in proc.stderr.splitlines() if not any(n in line for n in noise))
    assert proc.returncode == 0, f"chromium exited {proc.returncode} on {url}:\n{errors[-3000:]}"
    assert png.is_file(), f"chromium wrote no screenshot for {url}:\n{errors[-3000:]}"
    (out_dir / f"{name}.html").write_text(proc.stdout, encoding="utf-8")
    return Page(parse_html(proc.stdout), png)


# --- the docs site ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def docs_target(chromium, tmp_path_factory) -> Path:
    """`dbt build` + `dbt docs generate` on a tiny dataset in a local landing folder."""
    workdir = tmp_path_factory.mktemp("docs")
    gen.generate(workdir / "generated", SCALE, SEED, quiet=True)
    landing = workdir / "landing"
    upload.upload_dir(workdir / "generated", dest=str(landing), batch=0, validate=True, stream=io.StringIO())
    env = dbt_env(workdir, str(landing))
    run_dbt(["build"], env)
    run_dbt(["docs", "generate"], env)
    target = workdir / "target"
    for name in ("index.html", "manifest.json", "catalog.json"):
        assert (target / name).is_file(), f"dbt docs generate wrote no {name}"
    return target


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test output stays clean
        pass


@pytest.fixture(scope="session")
def docs_url(docs_target):
    """The site served over HTTP on 127.0.0.1 (a free port), like `dbt docs serve`."""
    handler = functools.partial(_QuietHandler, directory=str(docs_target))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def manifest(docs_target) -> dict:
    return json.loads((docs_target / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def catalog(docs_target) -> dict:
    return json.loads((docs_target / "catalog.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def model_page(chromium, docs_url, docs_target) -> Page:
    return open_page(chromium, f"{docs_url}#!/model/{MODEL_ID}", docs_target.parent / "browser", "model")


@pytest.fixture(scope="session")
def lineage_page(chromium, docs_url, docs_target) -> Page:
    """The model page with the full-screen lineage graph open on +model+ (its lineage)."""
    url = f"{docs_url}#!/model/{MODEL_ID}?g_v=1&g_i=%2B{MODEL}%2B"
    return open_page(chromium, url, docs_target.parent / "browser", "lineage")


# --- a small DOM -----------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.classes)
            and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})
        self.skip = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
            return
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
            return
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.current.children.append(data)


def parse_html(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


# --- PNG, stdlib only ------------------------------------------------------------------


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {path}"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + (left + prev[x]) // 2) & 255
        elif kind == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def distinct_colours(rows: list[bytes]) -> int:
    return len({row[x : x + 3] for row in rows for x in range(0, len(row), 3)})


def boxes(rows: list[bytes], colour: str) -> list[tuple[int, int, int, int]]:
    """Node-sized solid regions of one colour: (x, y, width, height) of each."""
    target = bytes.fromhex(colour)
    todo = {(x // 3, y) for y, row in enumerate(rows) for x in range(0, len(row), 3) if row[x : x + 3] == target}
    found = []
    while todo:
        start = todo.pop()
        stack, pixels = [start], [start]
        while stack:
            x, y = stack.pop()
            for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if n in todo:
                    todo.remove(n)
                    stack.append(n)
                    pixels.append(n)
        xs, ys = [p[0] for p in pixels], [p[1] for p in pixels]
        w, h = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
        if len(pixels) >= 300 and 12 <= h <= 60 and w >= 20:  # a labelled box, not text or an edge
            found.append((min(xs), min(ys), w, h))
    return found


# --- what the graph should show --------------------------------------------------------


def lineage(manifest: dict, unique_id: str) -> set[str]:
    """unique_id, its ancestors and its descendants, as dbt docs draws them for +id+."""
    seen = {unique_id}
    for edges in (manifest["parent_map"], manifest["child_map"]):
        stack = [unique_id]
        while stack:
            for other in edges.get(stack.pop(), []):
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
    nodes = manifest["nodes"]
    # dbt docs leaves generic tests (the ones with test_metadata) out of the graph.
    return {n for n in seen if not (n.startswith("test.") and "test_metadata" in nodes.get(n, {}))}


def node_colour(manifest: dict, unique_id: str) -> str:
    for group in ("nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests"):
        node = manifest.get(group, {}).get(unique_id)
        if node is not None:
            break
    else:
        return NODE_COLOURS["default"]
    custom = (node.get("docs") or {}).get("node_color") or ""
    if re.fullmatch(r"#?[0-9a-fA-F]{6}", custom):
        return custom.lstrip("#").lower()
    if node.get("language") == "python":
        return NODE_COLOURS["python"]
    return NODE_COLOURS.get(node.get("resource_type"), NODE_COLOURS["default"])


# --- the tests -------------------------------------------------------------------------


def test_sidebar_lists_every_model(model_page, manifest):
    listed = {
        e.attrs["data-nav-unique-id"]
        for e in model_page.dom.find_all(cls="menu-node")
        if "data-nav-unique-id" in e.attrs
    }
    models = {k for k, v in manifest["nodes"].items() if v["resource_type"] == "model" and v["package_name"] == PROJECT}
    assert {f"model.{PROJECT}.{m}" for m in SIDEBAR_MODELS} <= models
    assert models - listed == set(), "models missing from the sidebar tree"
    # The page's model is highlighted (in each of the sidebar's trees: project, database, group).
    active = {
        e.attrs.get("data-nav-unique-id") for e in model_page.dom.find_all(cls="menu-node") if "active" in e.classes
    }
    assert active == {MODEL_ID}


def test_model_page_shows_its_description_and_columns(model_page, manifest, catalog):
    node = manifest["nodes"][MODEL_ID]
    titles = [h.text() for h in model_page.dom.find_all("h1") if h.text()]
    assert f"{MODEL} {node['config']['materialized']}" in titles

    descriptions = model_page.dom.find_all("div", cls="model-markdown")
    assert descriptions, "no description on the model page"
    expected = re.sub(r"\]\([^)]*\)", "]", node["description"])  # markdown links show their text only
    assert words(descriptions[0].text()) == words(expected)

    # One row per column, name and type: the types come from catalog.json, so both XHRs loaded.
    shown = []
    for row in model_page.dom.find_all("tr", cls="column-row"):
        cells = [c for c in row.children if isinstance(c, Element) and c.tag == "td"]
        shown.append((cells[0].text(), cells[1].text()))
    in_catalog = [
        (c["name"], c["type"]) for c in sorted(catalog["nodes"][MODEL_ID]["columns"].values(), key=lambda c: c["index"])
    ]
    assert shown == in_catalog
    assert set(node["columns"]) <= {name for name, _ in shown}, "documented columns missing"


def test_model_page_screenshot_is_not_blank(model_page):
    width, height, rows = read_png(model_page.screenshot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert model_page.screenshot.stat().st_size > 20_000, f"suspiciously small: {model_page.screenshot}"
    assert distinct_colours(rows) > 200, f"looks blank: {model_page.screenshot}"


def test_lineage_graph_draws_the_models_lineage(lineage_page, manifest):
    graphs = lineage_page.dom.find_all("div", id="cy")
    assert graphs and "__________cytoscape_container" in graphs[0].classes, "no cytoscape graph in the page"
    layers = {c.attrs.get("data-id"): c for c in graphs[0].find_all("canvas")}
    assert "layer2-node" in layers, f"no node layer among the graph's canvases: {sorted(layers)}"
    for name, canvas in layers.items():
        size = int(canvas.attrs.get("width", 0)), int(canvas.attrs.get("height", 0))
        assert size[0] > WIDTH // 2 and size[1] > HEIGHT // 2, f"canvas {name} is {size}: the graph is not shown"

    # The canvas itself is pixels: count the node boxes in the screenshot, by colour.
    expected = lineage(manifest, MODEL_ID)
    want: dict[str, int] = {}
    for unique_id in expected:
        colour = node_colour(manifest, unique_id)
        want[colour] = want.get(colour, 0) + 1
    width, height, rows = read_png(lineage_page.screenshot)
    assert (width, height) == (WIDTH, HEIGHT)
    got = {colour: len(boxes(rows, colour)) for colour in want}
    sources = sum(1 for n in expected if n.startswith("source."))
    assert sources >= 1 and want.get(NODE_COLOURS["source"]) == sources
    assert got == want, f"node boxes by colour in {lineage_page.screenshot}, for {sorted(expected)}"


@pytest.fixture(scope="session")
def front_page(chromium, docs_url, docs_target) -> Page:
    return open_page(chromium, docs_url, docs_target.parent / "browser", "front")


def test_front_page_is_the_project_overview(front_page, manifest):
    """The site opens on models/overview.md (`__overview__`), not dbt's generic welcome page."""
    overview = manifest["docs"][f"doc.{PROJECT}.__overview__"]
    assert overview["original_file_path"] == "models/overview.md"
    text = " ".join(front_page.dom.text().split())
    for heading in ("MovieLens warehouse", "Where the data comes from", "Layers", "Reading the lineage"):
        assert heading in text, f"{heading!r} not on the front page"
    for layer in ("stg_movielens__tag_removals", "stg_movielens__rejected_rows", "fct_rejected_rows", "snap_tags"):
        assert layer in text
    assert "auto-generated documentation" not in text
