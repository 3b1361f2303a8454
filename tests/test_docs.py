"""The dbt docs site as a person sees it: dbt builds a tiny generated dataset landed in a local
folder, `dbt docs generate` writes the site, a local HTTP server serves it (the single-page app
fetches manifest.json and catalog.json by XHR, so file:// would not do) and Debian's headless
Chromium, driven by playwright, opens it. The checks read the page once the app has run: the
sidebar lists the models, a model page shows its description and the columns of the catalog, and
the lineage graph (read from the page's cytoscape instance) draws the model's lineage: each node
in its colour, each edge.

Needs Debian's `chromium` (.ci/run installs it; playwright downloads no browser here). Without it
the test is skipped, except in CI (CI set), where it fails."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import shutil
import struct
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from scripts.dataset import generate as gen
from scripts.landing import upload
from tests.dbt_runner import dbt_env, run_dbt

pytestmark = pytest.mark.dbt

SCALE = 0.001
SEED = 1
PROJECT = "movielens"
MODEL = "mart_movie_stats"
MODEL_ID = f"model.{PROJECT}.{MODEL}"
SIDEBAR_MODELS = ("mart_movie_stats", "fct_ratings", "dim_movies")  # named in the issue
WIDTH, HEIGHT = 1400, 900
TIMEOUT_MS = 30_000  # for the app to load and draw

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
# The page's graph: dbt docs draws it with cytoscape, which keeps its instance on the container.
READ_GRAPH = """() => {
    const cy = document.getElementById('cy')._cyreg.cy;
    const box = {w: cy.width(), h: cy.height()};
    const onScreen = (b) => b.x1 >= 0 && b.y1 >= 0 && b.x2 <= box.w && b.y2 <= box.h && b.w > 0;
    return {
        nodes: cy.nodes(':visible').map(n => [n.id(), n.style('background-color'), onScreen(n.renderedBoundingBox())]),
        edges: cy.edges(':visible').map(e => [e.source().id(), e.target().id()]),
        size: [box.w, box.h],
    };
}"""
GRAPH_DRAWN = (
    "() => { const c = document.getElementById('cy'); return !!(c && c._cyreg && c._cyreg.cy.nodes().length); }"
)


# --- Chromium --------------------------------------------------------------------------


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by playwright (its executable, not a downloaded one)."""
    binary = chromium_binary()
    if binary is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}: the docs-site test must run in CI")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def open_page(browser, url: str, ready: str) -> Page:
    """url in a new tab of the window size, once the selector `ready` is in the page."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url)
    page.wait_for_selector(ready, state="attached", timeout=TIMEOUT_MS)
    return page


# --- the docs site ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def docs_target(browser, tmp_path_factory) -> Path:
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
def model_page(browser, docs_url) -> Page:
    return open_page(browser, f"{docs_url}#!/model/{MODEL_ID}", "tr.column-row")


@pytest.fixture(scope="session")
def lineage_page(browser, docs_url) -> Page:
    """The model page with the full-screen lineage graph open on +model+ (its lineage)."""
    page = open_page(browser, f"{docs_url}#!/model/{MODEL_ID}?g_v=1&g_i=%2B{MODEL}%2B", "#cy")
    page.wait_for_function(GRAPH_DRAWN, timeout=TIMEOUT_MS)
    return page


@pytest.fixture(scope="session")
def front_page(browser, docs_url) -> Page:
    return open_page(browser, docs_url, "text=Reading the lineage")


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


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
    nodes = model_page.eval_on_selector_all(
        ".menu-node[data-nav-unique-id]", "els => els.map(e => [e.dataset.navUniqueId, e.classList.contains('active')])"
    )
    listed = {unique_id for unique_id, _ in nodes}
    models = {k for k, v in manifest["nodes"].items() if v["resource_type"] == "model" and v["package_name"] == PROJECT}
    assert {f"model.{PROJECT}.{m}" for m in SIDEBAR_MODELS} <= models
    assert models - listed == set(), "models missing from the sidebar tree"
    # The page's model is highlighted (in each of the sidebar's trees: project, database, group).
    assert {unique_id for unique_id, active in nodes if active} == {MODEL_ID}


def test_model_page_shows_its_description_and_columns(model_page, manifest, catalog):
    node = manifest["nodes"][MODEL_ID]
    titles = [" ".join(h.split()) for h in model_page.locator("h1").all_inner_texts() if h.strip()]
    assert f"{MODEL} {node['config']['materialized']}" in titles

    descriptions = model_page.locator("div.model-markdown").all_inner_texts()
    assert descriptions, "no description on the model page"
    expected = re.sub(r"\]\([^)]*\)", "]", node["description"])  # markdown links show their text only
    assert words(descriptions[0]) == words(expected)

    # One row per column, name and type: the types come from catalog.json, so both XHRs loaded.
    shown = model_page.eval_on_selector_all(
        "tr.column-row",
        "rows => rows.map(r => Array.from(r.children).filter(c => c.tagName === 'TD').slice(0, 2)"
        ".map(c => c.textContent.split(/\\s+/).filter(Boolean).join(' ')))",
    )
    in_catalog = [
        [c["name"], c["type"]] for c in sorted(catalog["nodes"][MODEL_ID]["columns"].values(), key=lambda c: c["index"])
    ]
    assert shown == in_catalog
    assert set(node["columns"]) <= {name for name, _ in shown}, "documented columns missing"


def test_model_page_screenshot_is_not_blank(model_page, docs_target):
    png = model_page.screenshot(path=docs_target.parent / "model.png")
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)  # the PNG header's width and height
    # a blank page of this size compresses to a few KB; the rendered app is several times more
    assert len(png) > 20_000, f"suspiciously small: {docs_target.parent / 'model.png'}"


def test_lineage_graph_draws_the_models_lineage(lineage_page, manifest, docs_target):
    lineage_page.screenshot(path=docs_target.parent / "lineage.png")  # to look at when this fails
    graph = lineage_page.evaluate(READ_GRAPH)
    assert graph["size"][0] > WIDTH // 2 and graph["size"][1] > HEIGHT // 2, f"graph is {graph['size']}: not shown"

    expected = lineage(manifest, MODEL_ID)
    drawn = {unique_id: colour.lstrip("#").lower() for unique_id, colour, _ in graph["nodes"]}
    assert set(drawn) == expected, f"nodes drawn for +{MODEL}+"
    assert drawn == {unique_id: node_colour(manifest, unique_id) for unique_id in expected}, "node colours"
    assert sum(1 for n in expected if n.startswith("source.")) >= 1
    off_screen = [unique_id for unique_id, _, on_screen in graph["nodes"] if not on_screen]
    assert off_screen == [], "nodes outside the visible graph"

    parents = manifest["parent_map"]
    want_edges = {(parent, child) for child in expected for parent in parents.get(child, []) if parent in expected}
    assert {tuple(edge) for edge in graph["edges"]} == want_edges
    assert len(graph["edges"]) == len(want_edges), "an edge is drawn twice"


def test_front_page_is_the_project_overview(front_page, manifest):
    """The site opens on models/overview.md (`__overview__`), not dbt's generic welcome page."""
    overview = manifest["docs"][f"doc.{PROJECT}.__overview__"]
    assert overview["original_file_path"] == "models/overview.md"
    text = " ".join(front_page.inner_text("body").split())
    for heading in ("MovieLens warehouse", "Where the data comes from", "Layers", "Reading the lineage"):
        assert heading in text, f"{heading!r} not on the front page"
    for layer in ("stg_movielens__tag_removals", "stg_movielens__rejected_rows", "fct_rejected_rows", "snap_tags"):
        assert layer in text
    assert "auto-generated documentation" not in text
