// The GovFlow modeler bundle (built by `npm run bundle` into webui/static/vendor/govflow-modeler/):
// bpmn-js Modeler + the bpmn-js properties panel + GovFlow's properties group + bpmn-js-differ, exposed as
// window.GovflowModeler for webui/static/js/editor.js. No eval, no inline scripts (CSP 'self').
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import { diff } from 'bpmn-js-differ';
import spiffworkflow from './spiffworkflow.json';
import { GovflowPropertiesModule, getProperty, setProperty, laneOf, moveToLane } from './govflow-properties';

const MULTI_INSTANCE_REFS = ['loopDataInputRef', 'loopDataOutputRef'];
const BPMN_NS = 'http://www.omg.org/spec/BPMN/20100524/MODEL';

/** SpiffWorkflow names a data *variable* in loopDataInputRef/loopDataOutputRef, which bpmn-moddle treats as an
 * id reference and drops when it resolves to nothing: remember them from the XML opened, restore on export. */
function rememberLoopRefs(xml) {
  const kept = {};
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  for (const mi of doc.getElementsByTagNameNS(BPMN_NS, 'multiInstanceLoopCharacteristics')) {
    const owner = mi.parentNode && mi.parentNode.getAttribute && mi.parentNode.getAttribute('id');
    if (!owner) continue;
    for (const name of MULTI_INSTANCE_REFS) {
      const ref = mi.getElementsByTagNameNS(BPMN_NS, name)[0];
      if (ref) (kept[owner] = kept[owner] || {})[name] = ref.textContent;
    }
  }
  return kept;
}

function restoreLoopRefs(xml, kept) {
  if (!Object.keys(kept).length) return xml;
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  let changed = false;
  for (const mi of doc.getElementsByTagNameNS(BPMN_NS, 'multiInstanceLoopCharacteristics')) {
    const refs = kept[mi.parentNode.getAttribute('id')];
    if (!refs) continue;
    let after = null;
    for (const child of mi.children) if (child.localName === 'loopCardinality') after = child;
    for (const name of MULTI_INSTANCE_REFS) {
      let node = mi.getElementsByTagNameNS(BPMN_NS, name)[0];
      if (!node && refs[name] !== undefined) {
        node = doc.createElementNS(BPMN_NS, mi.prefix ? `${mi.prefix}:${name}` : name);
        node.textContent = refs[name];
        mi.insertBefore(node, after ? after.nextSibling : mi.firstChild);
        changed = true;
      }
      if (node) after = node;
    }
  }
  return changed ? new XMLSerializer().serializeToString(doc) : xml;
}

function create(options) {
  const modeler = new BpmnModeler({
    container: options.container,
    propertiesPanel: { parent: options.properties },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, GovflowPropertiesModule],
    moddleExtensions: { spiffworkflow },
  });
  let kept = {};
  return {
    modeler,
    async open(xml) {
      kept = rememberLoopRefs(xml);
      return modeler.importXML(xml);
    },
    async xml() {
      const { xml } = await modeler.saveXML({ format: true });
      return restoreLoopRefs(xml, kept);
    },
    /** {added, removed, changed, layout}: element id -> {id, name, type, attrs?} against another diagram. */
    async compare(otherXml) {
      const moddle = modeler.get('moddle');
      const { rootElement: before } = await moddle.fromXML(otherXml, 'bpmn:Definitions');
      const after = modeler.getDefinitions();
      const result = diff(before, after);
      const pick = (map) => Object.values(map || {}).map((e) => ({
        id: e.id || (e.model && e.model.id), name: (e.name || (e.model && e.model.name)) || '',
        type: (e.$type || (e.model && e.model.$type) || '').replace('bpmn:', ''),
        attrs: e.attrs ? Object.keys(e.attrs) : undefined,
      }));
      return { added: pick(result._added), removed: pick(result._removed), changed: pick(result._changed),
        layout: pick(result._layoutChanged) };
    },
    select(id) {
      const element = modeler.get('elementRegistry').get(id);
      if (!element) return false;
      modeler.get('selection').select(element);
      modeler.get('canvas').scrollToElement(element);
      return true;
    },
    getProperty(id, name) { return getProperty(modeler.get('elementRegistry').get(id), name); },
    setProperty(id, name, value) {
      setProperty(modeler.get('elementRegistry').get(id), name, value, modeler.get('bpmnFactory'), modeler.get('commandStack'));
    },
    laneName(id) {
      const registry = modeler.get('elementRegistry');
      const lane = laneOf(registry.get(id), registry);
      return lane ? lane.businessObject.name : null;
    },
    moveToLane(id, laneId) {
      const registry = modeler.get('elementRegistry');
      moveToLane(registry.get(id), registry.get(laneId), modeler.get('modeling'));
    },
  };
}

window.GovflowModeler = Object.assign(window.GovflowModeler || {}, { create, texts: {}, roles: [] });
