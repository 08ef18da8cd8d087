"""Pictures of the process models: ``processes/<procedure>/<variant>.bpmn`` -> ``diagrams/<procedure>/<variant>.svg``.

    python -m webui.diagrams [--check] [FILE.bpmn ...]

Each picture is drawn by the same vendored bpmn-js viewer the web UI uses, in headless Chromium (through the
``playwright`` package, with the system's Chromium: ``/usr/bin/chromium`` or ``$GOVFLOW_CHROMIUM``), and
saved with bpmn-js's ``saveSVG``.  Near its top every picture records the sha256 of the ``.bpmn`` bytes it
was drawn from, so ``--check`` (and the test suite) can tell a stale picture without a browser.
"""
import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROCESSES = REPO / "processes"
DIAGRAMS = REPO / "diagrams"
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
VIEWER_JS = VENDOR / "bpmn-navigated-viewer.production.min.js"
VIEWER_CSS = (VENDOR / "bpmn-js" / "assets" / "diagram-js.css", VENDOR / "bpmn-js" / "assets" / "bpmn-js.css")
DEFAULT_CHROMIUM = "/usr/bin/chromium"

_SOURCE_COMMENT = re.compile(r"<!-- source: (?P<path>\S+) sha256=(?P<sha>[0-9a-f]{64}) -->")
_RENDER_TIMEOUT_MS = 60_000

# The page the viewer draws in; the viewer script and its CSS are added to it from webui/static/vendor/.
_HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>GovFlow diagram</title>
<style>html, body { margin: 0; } #canvas { width: 1600px; height: 1000px; }</style>
</head><body><div id="canvas"></div></body></html>
"""

_RENDER_SCRIPT = """async (xml) => {
  const viewer = new BpmnJS({ container: '#canvas' });
  const { warnings } = await viewer.importXML(xml);
  const { svg } = await viewer.saveSVG();
  viewer.destroy();
  return { svg, warnings: warnings.map((w) => String(w.message || w)) };
}"""


@dataclass(frozen=True)
class Picture:
    source: Path   # processes/<procedure>/<variant>.bpmn
    target: Path   # diagrams/<procedure>/<variant>.svg

    @property
    def source_name(self) -> str:
        return self.source.relative_to(REPO).as_posix()

    @property
    def target_name(self) -> str:
        return self.target.relative_to(REPO).as_posix()


def chromium_path() -> str:
    return os.environ.get("GOVFLOW_CHROMIUM") or DEFAULT_CHROMIUM


def pictures(paths=None) -> list[Picture]:
    """Every model under processes/ (or the given .bpmn files) with the path of its picture."""
    sources = [Path(p).resolve() for p in paths] if paths else sorted(PROCESSES.glob("*/*.bpmn"))
    found = []
    for source in sources:
        relative = source.relative_to(PROCESSES)
        found.append(Picture(source, DIAGRAMS / relative.with_suffix(".svg")))
    return found


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_source(svg_text: str) -> tuple[str, str] | None:
    """(source path, sha256) recorded in a picture's header comment, or None."""
    match = _SOURCE_COMMENT.search(svg_text[:2000])
    return (match["path"], match["sha"]) if match else None


def stale(picture: Picture) -> str | None:
    """Why the picture does not show the current model, or None when it does."""
    if not picture.target.exists():
        return "missing"
    recorded = recorded_source(picture.target.read_text(encoding="utf-8"))
    if recorded is None:
        return "has no source comment"
    if recorded != (picture.source_name, sha256_of(picture.source)):
        return "drawn from an older version of the model"
    return None


def _stamp(svg: str, picture: Picture, sha: str) -> str:
    """Put the source comment right after the XML declaration and make the output reproducible."""
    # bpmn-js gives every arrow-head marker a random id; number them so a redrawn picture is identical
    for number, random_id in enumerate(dict.fromkeys(re.findall(r'<marker id="([^"]+)"', svg)), start=1):
        svg = re.sub(rf"(?<=[#\"]){re.escape(random_id)}(?=[\"')])", f"marker-{number}", svg)
    comment = f"<!-- source: {picture.source_name} sha256={sha} -->\n"
    declaration = re.match(r"<\?xml[^>]*\?>\s*", svg)
    head = declaration.group(0) if declaration else '<?xml version="1.0" encoding="utf-8"?>\n'
    body = svg[declaration.end():] if declaration else svg
    if not head.endswith("\n"):
        head = head.rstrip() + "\n"
    return head + comment + body.rstrip() + "\n"


class Renderer:
    """One headless Chromium with the vendored viewer loaded; draws any number of models."""

    def __init__(self, executable: str | None = None):
        self.executable = executable or chromium_path()
        self._playwright = None
        self._browser = None
        self._page = None

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        if not Path(self.executable).exists():
            raise FileNotFoundError(f"no Chromium at {self.executable}: install it or set GOVFLOW_CHROMIUM")
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=self.executable, headless=True)
            self._page = self._browser.new_page()
            self._page.set_default_timeout(_RENDER_TIMEOUT_MS)
            self._page.set_content(_HARNESS)
            for css in VIEWER_CSS:
                self._page.add_style_tag(path=str(css))
            self._page.add_script_tag(path=str(VIEWER_JS))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()
        self._browser = self._playwright = self._page = None

    def svg(self, bpmn_xml: str) -> str:
        """The picture bpmn-js draws for a BPMN document, as SVG text."""
        result = self._page.evaluate(_RENDER_SCRIPT, bpmn_xml)
        # SpiffWorkflow names plain variables in loopDataInputRef/loopDataOutputRef, which bpmn-js
        # reports as unresolved references to data items; anything else means the picture is wrong
        problems = [w for w in result["warnings"] if not w.startswith("unresolved reference")]
        if problems:
            raise ValueError("bpmn-js could not read the model: " + "; ".join(problems))
        return result["svg"]

    def render(self, picture: Picture) -> str:
        data = picture.source.read_bytes()
        svg = _stamp(self.svg(data.decode("utf-8")), picture, hashlib.sha256(data).hexdigest())
        picture.target.parent.mkdir(parents=True, exist_ok=True)
        if not picture.target.exists() or picture.target.read_text(encoding="utf-8") != svg:
            picture.target.write_text(svg, encoding="utf-8")
        return svg


def render_all(selected: list[Picture], out=sys.stdout) -> None:
    with Renderer() as renderer:
        for picture in selected:
            renderer.render(picture)
            print(f"{picture.target_name}: drawn from {picture.source_name}", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webui.diagrams",
        description="Draw processes/<procedure>/<variant>.bpmn as diagrams/<procedure>/<variant>.svg "
                    "with the vendored bpmn-js viewer in headless Chromium.",
    )
    parser.add_argument("paths", nargs="*", help=".bpmn files under processes/ (default: all of them)")
    parser.add_argument("--check", action="store_true",
                        help="draw nothing; list missing or stale pictures and exit 1 if there are any")
    args = parser.parse_args(argv)
    outside = [p for p in args.paths if not Path(p).resolve().is_relative_to(PROCESSES)]
    if outside:
        parser.error(f"not a model under {PROCESSES}: {', '.join(outside)}")
    selected = pictures(args.paths)
    if args.check:
        problems = [(p, why) for p in selected if (why := stale(p))]
        for picture, why in problems:
            print(f"{picture.target_name}: {why} ({picture.source_name}); run python -m webui.diagrams")
        if not problems:
            print(f"{len(selected)} pictures up to date")
        return 1 if problems else 0
    render_all(selected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
