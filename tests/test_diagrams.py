"""The pictures of the process models: every model has diagram interchange (BPMNDI), a picture drawn from
its current version, and the picture shows the model's steps; the viewer script marks steps on a page."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

from webui import diagrams

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted((ROOT / "processes").glob("*/*.bpmn"))
STATIC = ROOT / "webui" / "static"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
SVG = "http://www.w3.org/2000/svg"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "svg": SVG}

REDRAW = "run `python -m webui.diagrams` and commit the pictures under diagrams/"

# Exclusive gateways whose conditions SpiffWorkflow tries in a different order than the file lists them,
# because it tries them in the order of their targets' height on the diagram.  Each was checked by hand:
# its conditions cannot hold together, so the order does not change where an instance goes.
CONDITIONS_CHECKED_EXCLUSIVE = {
    ("leave/leave.bpmn", "gw_route"),   # route == "external" / "vice_then_mayor" / "none"
    ("leave/leave.bpmn", "gw_mayor"),   # decision != "同意" / decision == "同意" and ...
}


def model_id(path: Path) -> str:
    return path.relative_to(ROOT / "processes").as_posix()


def parse(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(path), parser).getroot()


def local(element) -> str:
    return etree.QName(element).localname


def flow_nodes(root):
    """Every flow node of every process: events, tasks, gateways (not sequence flows, lanes, data)."""
    return [
        element
        for process in root.iterfind("bpmn:process", NS)
        for element in process.iter(f"{{{BPMN}}}*")
        if element.get("id") and (local(element).endswith(("Event", "Task", "Gateway"))
                                  or local(element) in ("task", "subProcess", "callActivity", "transaction"))
    ]


def bounds(root) -> dict[str, tuple[float, float, float, float]]:
    found = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        box = shape.find("dc:Bounds", NS)
        found[shape.get("bpmnElement")] = tuple(float(box.get(k)) for k in ("x", "y", "width", "height"))
    return found


def svg_texts(svg_root) -> list[str]:
    """The text of every label in a picture, its lines joined (bpmn-js breaks long names into tspans)."""
    return ["".join(text.itertext()) for text in svg_root.iter(f"{{{SVG}}}text")]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def test_there_are_models_to_draw():
    assert MODELS, "no .bpmn files under processes/"


# --- the pictures are drawn from the current models --------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_every_model_has_a_picture_drawn_from_its_current_version(model):
    picture = next(p for p in diagrams.pictures() if p.source == model)
    name = picture.target.relative_to(ROOT).as_posix()
    assert picture.target.exists(), f"{model_id(model)} has no picture {name}: {REDRAW}"
    recorded = diagrams.recorded_source(picture.target.read_text(encoding="utf-8"))
    assert recorded is not None, f"{name} does not say which model it was drawn from: {REDRAW}"
    path, sha = recorded
    assert path == f"processes/{model_id(model)}", f"{name} was drawn from {path}: {REDRAW}"
    assert sha == diagrams.sha256_of(model), (
        f"{name} was drawn from an older version of processes/{model_id(model)} "
        f"(sha256 {sha[:12]}…, the file is now {diagrams.sha256_of(model)[:12]}…): {REDRAW}"
    )


def test_every_picture_belongs_to_a_model():
    models = {f"{model_id(m)[:-len('.bpmn')]}.svg" for m in MODELS}
    pictures = {p.relative_to(ROOT / "diagrams").as_posix() for p in (ROOT / "diagrams").glob("*/*.svg")}
    assert pictures <= models, f"pictures without a model (delete them): {sorted(pictures - models)}"


def test_the_check_command_finds_a_stale_picture(tmp_path, monkeypatch, capsys):
    model = MODELS[0]
    copy = tmp_path / "processes" / model.parent.name / model.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(model.read_bytes())
    monkeypatch.setattr(diagrams, "REPO", tmp_path)
    monkeypatch.setattr(diagrams, "PROCESSES", tmp_path / "processes")
    monkeypatch.setattr(diagrams, "DIAGRAMS", tmp_path / "diagrams")
    assert diagrams.main(["--check"]) == 1
    assert "missing" in capsys.readouterr().out

    picture = tmp_path / "diagrams" / model.parent.name / f"{model.stem}.svg"
    picture.parent.mkdir(parents=True)
    picture.write_text(
        f'<?xml version="1.0"?>\n<!-- source: processes/{model.parent.name}/{model.name} '
        f'sha256={diagrams.sha256_of(copy)} -->\n<svg xmlns="{SVG}"/>\n', encoding="utf-8")
    assert diagrams.main(["--check"]) == 0

    copy.write_bytes(model.read_bytes() + b"\n")
    assert diagrams.main(["--check"]) == 1
    assert "older version" in capsys.readouterr().out


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_every_picture_is_svg_showing_every_user_task_of_its_model(model):
    picture = ROOT / "diagrams" / model.parent.name / f"{model.stem}.svg"
    if not picture.exists():
        pytest.fail(f"{model_id(model)} has no picture: {REDRAW}")
    try:
        svg = parse(picture)
    except etree.XMLSyntaxError as exc:
        pytest.fail(f"{picture.relative_to(ROOT)} is not well-formed XML ({exc}): {REDRAW}")
    assert svg.tag == f"{{{SVG}}}svg", f"{picture.relative_to(ROOT)} is not an SVG picture"
    shown = {squeeze(text) for text in svg_texts(svg)}
    tasks = parse(model).iterfind(".//bpmn:userTask", NS)
    missing = [task.get("name") for task in tasks if squeeze(task.get("name")) not in shown]
    assert not missing, f"{picture.relative_to(ROOT)} does not show the user tasks {missing}: {REDRAW}"


# --- the models carry diagram interchange --------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_every_flow_node_has_a_shape_and_every_sequence_flow_an_edge(model):
    root = parse(model)
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    no_shape = [n.get("id") for n in flow_nodes(root) if n.get("id") not in shapes]
    no_edge = [f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", NS) if f.get("id") not in edges]
    lanes_without = [lane.get("id") for lane in root.iterfind(".//bpmn:lane", NS) if lane.get("id") not in shapes]
    hint = "run `node webui/frontend/layout.mjs` (after `npm ci` in webui/frontend) or draw them in a modeler"
    assert not no_shape, f"{model_id(model)}: flow nodes without a BPMNShape {no_shape}: {hint}"
    assert not no_edge, f"{model_id(model)}: sequence flows without a BPMNEdge {no_edge}: {hint}"
    assert not lanes_without, f"{model_id(model)}: lanes without a BPMNShape {lanes_without}: {hint}"
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("{http://www.omg.org/spec/DD/20100524/DI}waypoint")) >= 2, edge.get("id")


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_every_flow_node_is_drawn_inside_its_lane(model):
    root = parse(model)
    box = bounds(root)
    outside = []
    for lane in root.iterfind(".//bpmn:lane", NS):
        lx, ly, lw, lh = box[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x, y, w, h = box[ref.text.strip()]
            if not (lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh):
                outside.append(f"{ref.text.strip()} (lane {lane.get('name')})")
    assert not outside, f"{model_id(model)}: drawn outside their lane's band: {outside}"


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_boundary_events_sit_on_their_task(model):
    root = parse(model)
    box = bounds(root)
    for event in root.iterfind(".//bpmn:boundaryEvent", NS):
        ex, ey, ew, eh = box[event.get("id")]
        hx, hy, hw, hh = box[event.get("attachedToRef")]
        cx, cy = ex + ew / 2, ey + eh / 2
        on_edge = (hx <= cx <= hx + hw and (abs(cy - hy) < 1 or abs(cy - hy - hh) < 1)) or (
            hy <= cy <= hy + hh and (abs(cx - hx) < 1 or abs(cx - hx - hw) < 1))
        assert on_edge, f"{model_id(model)}: {event.get('id')} is not drawn on the edge of its task"


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_moving_shapes_did_not_change_the_order_an_exclusive_gateway_tries_its_conditions(model):
    """SpiffWorkflow 3.2 connects a node's outgoing flows sorted by the y coordinate of their targets
    (TaskParser.parse_node), and an exclusive gateway takes the first condition that holds, in that order.
    So moving a target up or down on the diagram can change where an instance goes when two conditions
    hold at once.  A gateway whose conditions are tried out of document order must be checked by hand."""
    root = parse(model)
    box = bounds(root)
    flows = root.findall(".//bpmn:sequenceFlow", NS)
    for gateway in root.iterfind(".//bpmn:exclusiveGateway", NS):
        default = gateway.get("default")
        conditional = [f for f in flows if f.get("sourceRef") == gateway.get("id") and f.get("id") != default]
        documented = [f.get("id") for f in conditional]
        tried = [f.get("id") for f in sorted(conditional, key=lambda f: box[f.get("targetRef")][1])]
        if tried != documented and (model_id(model), gateway.get("id")) not in CONDITIONS_CHECKED_EXCLUSIVE:
            pytest.fail(
                f"{model_id(model)}: gateway {gateway.get('id')} now tries its conditions in the order {tried} "
                f"(its targets from top to bottom), not {documented} as written: make sure no two of them can "
                f"hold at once, then add it to CONDITIONS_CHECKED_EXCLUSIVE in {Path(__file__).name}"
            )


# --- drawing in Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    path = diagrams.chromium_path()
    if not Path(path).exists():
        pytest.skip(f"no Chromium at {path} (install Debian's chromium or set GOVFLOW_CHROMIUM)")
    return path


def test_the_viewer_draws_a_model_with_its_task_names(chromium, tmp_path):
    model = ROOT / "processes" / "meeting" / "meeting.bpmn"
    picture = diagrams.Picture(model, tmp_path / "meeting.svg")
    with diagrams.Renderer(chromium) as renderer:
        svg_text = renderer.render(picture)
    assert svg_text == picture.target.read_text(encoding="utf-8")
    assert diagrams.recorded_source(svg_text) == ("processes/meeting/meeting.bpmn", diagrams.sha256_of(model))
    shown = {squeeze(text) for text in svg_texts(parse(picture.target))}
    names = [n.get("name") for n in flow_nodes(parse(model)) if local(n).endswith("Task") and n.get("name")]
    lanes = [lane.get("name") for lane in parse(model).iterfind(".//bpmn:lane", NS)]
    assert names and all(squeeze(name) in shown for name in names + lanes), (names, lanes)
    # the same model drawn again gives the same bytes, so pictures only change when their model does
    with diagrams.Renderer(chromium) as renderer:
        assert renderer.render(picture) == svg_text


def test_the_page_script_marks_finished_active_and_returned_steps(chromium):
    from playwright.sync_api import sync_playwright

    model = (ROOT / "processes" / "leave" / "leave.bpmn").read_text(encoding="utf-8")
    files = {
        "/static/vendor/bpmn-navigated-viewer.production.min.js":
            STATIC / "vendor" / "bpmn-navigated-viewer.production.min.js",
        "/static/vendor/bpmn-js/assets/diagram-js.css": STATIC / "vendor" / "bpmn-js" / "assets" / "diagram-js.css",
        "/static/vendor/bpmn-js/assets/bpmn-js.css": STATIC / "vendor" / "bpmn-js" / "assets" / "bpmn-js.css",
        "/static/css/diagram.css": STATIC / "css" / "diagram.css",
        "/static/js/diagram.js": STATIC / "js" / "diagram.js",
    }
    page_html = """<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/vendor/bpmn-js/assets/diagram-js.css">
<link rel="stylesheet" href="/static/vendor/bpmn-js/assets/bpmn-js.css">
<link rel="stylesheet" href="/static/css/diagram.css">
</head><body>
<div id="by-url" class="bpmn-diagram" data-xml-url="/definitions/leave/xml"
     data-finished='["start", "check_notice", "gw_notice", "route", "gw_route"]'
     data-active='["mayor_approval", "no_such_step"]' data-returned='["vice_approval"]'></div>
<div id="inline" class="bpmn-diagram" data-xml="%s" data-active='["start"]'></div>
<script src="/static/vendor/bpmn-navigated-viewer.production.min.js"></script>
<script src="/static/js/diagram.js"></script>
</body></html>""" % model.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    # the app's policy: no inline script, no eval
    csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    errors = []

    def serve(route):
        path = route.request.url.split("http://govflow.test", 1)[1]
        if path == "/page":
            route.fulfill(body=page_html, content_type="text/html; charset=utf-8",
                          headers={"Content-Security-Policy": csp})
        elif path == "/definitions/leave/xml":
            route.fulfill(body=model, content_type="application/xml; charset=utf-8")
        elif path in files:
            kind = "text/css" if path.endswith(".css") else "text/javascript"
            route.fulfill(body=files[path].read_bytes(), content_type=kind)
        else:
            route.fulfill(status=404, body="not found")

    def classes(element_id, within="#by-url"):
        return page.evaluate(
            "([root, id]) => { const g = document.querySelector(`${root} [data-element-id=\"${id}\"]`);"
            " return g ? Array.from(g.classList) : null; }", [within, element_id])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.route("http://govflow.test/**", serve)
            page.goto("http://govflow.test/page")
            page.wait_for_selector("#by-url.bpmn-diagram-ready svg", timeout=30_000)
            page.wait_for_selector("#inline.bpmn-diagram-ready svg", timeout=30_000)

            assert "govflow-finished" in classes("check_notice")
            assert "govflow-active" in classes("mayor_approval")
            assert "govflow-returned" in classes("vice_approval")
            assert "govflow-active" not in classes("secretary_approval")
            assert "govflow-active" in classes("start", within="#inline")
            stroke = page.evaluate(
                "() => getComputedStyle(document.querySelector("
                "'#by-url [data-element-id=\"mayor_approval\"] .djs-visual > rect')).strokeWidth")
            assert stroke == "4px"
            zoom = page.evaluate("() => document.querySelector('#by-url svg').getBoundingClientRect().width")
            assert zoom > 0

            # an auditor's step-through page changes the attributes and draws again: the marks move
            page.evaluate("""() => {
                const el = document.getElementById('by-url');
                el.dataset.finished = JSON.stringify(['start', 'check_notice', 'gw_notice', 'route', 'gw_route',
                                                      'mayor_approval', 'gw_mayor']);
                el.dataset.active = JSON.stringify(['mark_approved']);
                el.dataset.returned = '[]';
                return window.GovflowDiagram.render(el).then(() => true);
            }""")
            assert "govflow-finished" in classes("mayor_approval")
            assert "govflow-active" not in classes("mayor_approval")
            assert "govflow-active" in classes("mark_approved")
            assert "govflow-returned" not in classes("vice_approval")
        finally:
            browser.close()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    assert not errors, errors


def test_the_page_script_says_so_when_the_diagram_cannot_be_loaded(chromium):
    from playwright.sync_api import sync_playwright

    viewer = (STATIC / "vendor" / "bpmn-navigated-viewer.production.min.js").read_text(encoding="utf-8")
    script = (STATIC / "js" / "diagram.js").read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.set_content('<div id="d" class="bpmn-diagram" data-xml="not xml"></div>')
            page.add_script_tag(content=viewer)
            page.add_script_tag(content=script)
            page.wait_for_selector("#d .bpmn-diagram-error", timeout=30_000)
            assert "流程图无法显示" in page.inner_text("#d")
            assert json.loads(page.evaluate("() => JSON.stringify(typeof window.GovflowDiagram.render)")) == "function"
        finally:
            browser.close()
