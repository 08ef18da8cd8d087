// GovFlow's properties group for the bpmn-js properties panel: the spiffworkflow:properties the engine
// executes (form, due-date rule, limit name, completion check) and the lane (the role) of a task.
//
//   <bpmn:extensionElements>
//     <spiffworkflow:properties>
//       <spiffworkflow:property name="dueIn" value="P1WD"/>
//
// Labels come from window.GovflowModeler.texts (the page's language); every change is one undoable command.
import { TextFieldEntry, SelectEntry, isTextFieldEntryEdited, isSelectEntryEdited } from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is, isAny } from 'bpmn-js/lib/util/ModelUtil';

export const TASK_PROPERTIES = ['formJsonSchemaFilename', 'dueIn', 'dueFrom', 'limitName', 'completeCheck',
  'completeCheckMessage'];
export const START_PROPERTIES = ['formJsonSchemaFilename', 'startCheck', 'startCheckMessage'];

function text(key) {
  const texts = (window.GovflowModeler && window.GovflowModeler.texts) || {};
  return texts[key] || key;
}

export function findProperties(bo) {
  const ext = bo && bo.get('extensionElements');
  const values = (ext && ext.get('values')) || [];
  return values.find((v) => is(v, 'spiffworkflow:Properties'));
}

export function getProperty(element, name) {
  const container = findProperties(getBusinessObject(element));
  const found = container && container.get('properties').find((p) => p.get('name') === name);
  return found ? found.get('value') || '' : '';
}

/** Set (or, with an empty value, remove) one spiffworkflow:property, as one command on the command stack. */
export function setProperty(element, name, value, bpmnFactory, commandStack) {
  const bo = getBusinessObject(element);
  const commands = [];
  let ext = bo.get('extensionElements');
  if (!ext) {
    if (!value) return;
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    ext.$parent = bo;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements: ext } } });
  }
  let container = findProperties(bo);
  if (!container) {
    if (!value) return;
    container = bpmnFactory.create('spiffworkflow:Properties', { properties: [] });
    container.$parent = ext;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: ext, properties: { values: [...ext.get('values'), container] } } });
  }
  const list = container.get('properties');
  const found = list.find((p) => p.get('name') === name);
  if (!value) {
    if (!found) return;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: container, properties: { properties: list.filter((p) => p !== found) } } });
  } else if (found) {
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: found, properties: { value } } });
  } else {
    const property = bpmnFactory.create('spiffworkflow:Property', { name, value });
    property.$parent = container;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: container, properties: { properties: [...list, property] } } });
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

function PropertyEntry(props) {
  const { element, id, name } = props;
  const bpmnFactory = useService('bpmnFactory');
  const commandStack = useService('commandStack');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element, id, label: text(name), debounce,
    getValue: () => getProperty(element, name),
    setValue: (value) => setProperty(element, name, (value || '').trim(), bpmnFactory, commandStack),
  });
}

// --- lanes: a task's lane is its role ---------------------------------------------------------------

export function lanesOf(elementRegistry) {
  return elementRegistry.filter((e) => is(e, 'bpmn:Lane'));
}

export function laneOf(element, elementRegistry) {
  const cx = element.x + element.width / 2, cy = element.y + element.height / 2;
  const lanes = lanesOf(elementRegistry).filter((l) => cx >= l.x && cx <= l.x + l.width && cy >= l.y && cy <= l.y + l.height);
  // the innermost lane holding the centre
  lanes.sort((a, b) => a.width * a.height - b.width * b.height);
  return lanes[0];
}

/** Move a flow node (with its labels and boundary events) into another lane: bpmn-js updates flowNodeRefs. */
export function moveToLane(element, lane, modeling) {
  const cy = element.y + element.height / 2;
  const target = lane.y + lane.height / 2;
  const dy = Math.round(target - cy);
  if (dy) modeling.moveElements([element, ...(element.attachers || [])], { x: 0, y: dy });
}

function LaneEntry(props) {
  const { element, id } = props;
  const elementRegistry = useService('elementRegistry');
  const modeling = useService('modeling');
  return SelectEntry({
    element, id, label: text('lane'),
    getValue: () => { const lane = laneOf(element, elementRegistry); return lane ? lane.id : ''; },
    setValue: (laneId) => { const lane = elementRegistry.get(laneId); if (lane) moveToLane(element, lane, modeling); },
    getOptions: () => lanesOf(elementRegistry).map((l) => ({ value: l.id, label: getBusinessObject(l).name || l.id })),
  });
}

function RoleEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const roles = (window.GovflowModeler && window.GovflowModeler.roles) || [];
  return SelectEntry({
    element, id, label: text('role'),
    getValue: () => getBusinessObject(element).name || '',
    setValue: (value) => modeling.updateProperties(element, { name: value }),
    getOptions: () => {
      const current = getBusinessObject(element).name || '';
      const names = roles.map((r) => r.name);
      const options = names.map((n) => ({ value: n, label: n }));
      if (current && !names.includes(current)) options.unshift({ value: current, label: current });
      return [{ value: '', label: '—' }, ...options];
    },
  });
}

function govflowEntries(element) {
  const entries = [];
  if (is(element, 'bpmn:Lane')) {
    entries.push({ id: 'govflow-role', component: RoleEntry, isEdited: isSelectEntryEdited });
    return entries;
  }
  if (isAny(element, ['bpmn:FlowNode']) && !is(element, 'bpmn:BoundaryEvent')) {
    entries.push({ id: 'govflow-lane', component: LaneEntry, isEdited: isSelectEntryEdited });
  }
  let names = [];
  if (is(element, 'bpmn:UserTask') || is(element, 'bpmn:ManualTask')) names = TASK_PROPERTIES;
  else if (is(element, 'bpmn:StartEvent')) names = START_PROPERTIES;
  for (const name of names) {
    entries.push({ id: `govflow-${name}`, name, component: PropertyEntry, isEdited: isTextFieldEntryEdited });
  }
  return entries;
}

export default class GovflowPropertiesProvider {
  constructor(propertiesPanel) {
    propertiesPanel.registerProvider(400, this);
  }

  getGroups(element) {
    return (groups) => {
      const entries = govflowEntries(element);
      if (entries.length) {
        // right after the general group, so it is the first thing a designer sees
        groups.splice(1, 0, { id: 'govflow', label: text('group'), entries });
      }
      return groups;
    };
  }
}
GovflowPropertiesProvider.$inject = ['propertiesPanel'];

export const GovflowPropertiesModule = {
  __init__: ['govflowPropertiesProvider'],
  govflowPropertiesProvider: ['type', GovflowPropertiesProvider],
};
