"""The one hardened XML parser every diagram (BPMN, DMN) goes through.

Entities are never expanded, no DTD is loaded and nothing is fetched from disk
or network.  Documents that declare entities or point at an external DTD are
refused outright, so XML bombs and external-entity tricks never get that far.
"""
import re

from lxml import etree

MAX_BYTES = 5 * 1024 * 1024

# "<!ENTITY" as it appears in UTF-16 files; the parser's own check catches anything rarer.
_UTF16_ENTITY_DECLARATIONS = ("<!ENTITY".encode("utf-16-le"), "<!ENTITY".encode("utf-16-be"))
_LXML_POSITION = re.compile(r", line \d+, column \d+$")

_ENTITIES_REFUSED = (
    "the file declares XML entities (<!ENTITY ...>), which GovFlow never accepts because they can "
    "read files on the server or blow up in size: export the diagram again from the modeler"
)
_EXTERNAL_DTD_REFUSED = (
    "the file refers to an external DTD in its <!DOCTYPE> line, which GovFlow does not load: "
    "remove the <!DOCTYPE> line"
)


class DiagramError(ValueError):
    """One problem in a diagram file, located by file name, line and element id."""

    def __init__(self, source, message, *, line=None, element_id=None):
        super().__init__(message)
        self.source = source
        self.message = message
        self.line = line
        self.element_id = element_id

    def __str__(self):
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


def parse_xml(data: bytes, source_name: str) -> etree._ElementTree:
    """Parse untrusted XML bytes or raise DiagramError saying what is wrong and where."""
    _refuse_oversized(data, source_name)
    _refuse_entity_declarations(data, source_name)
    try:
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        message = _LXML_POSITION.sub("", exc.msg or "unreadable XML")
        raise DiagramError(source_name, f"the file is not well-formed XML: {message}", line=exc.lineno) from None
    tree = root.getroottree()
    _refuse_doctype(tree.docinfo, source_name)
    return tree


def _new_parser():
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _refuse_oversized(data, source_name):
    if len(data) > MAX_BYTES:
        size_mb = len(data) / (1024 * 1024)
        raise DiagramError(
            source_name,
            f"the file is {size_mb:.1f} MB, more than the {MAX_BYTES // (1024 * 1024)} MB a diagram may have: "
            "split the process into smaller ones or remove embedded data",
        )


def _refuse_entity_declarations(data, source_name):
    position = data.find(b"<!ENTITY")
    if position >= 0:
        raise DiagramError(source_name, _ENTITIES_REFUSED, line=data.count(b"\n", 0, position) + 1)
    if any(marker in data for marker in _UTF16_ENTITY_DECLARATIONS):
        raise DiagramError(source_name, _ENTITIES_REFUSED)


def _refuse_doctype(docinfo, source_name):
    dtd = docinfo.internalDTD
    if dtd is not None and dtd.entities():
        raise DiagramError(source_name, _ENTITIES_REFUSED)
    if docinfo.system_url or docinfo.public_id:
        raise DiagramError(source_name, _EXTERNAL_DTD_REFUSED)
