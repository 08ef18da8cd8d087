/*
 * The designers' BPMN editor page (/admin/editor/<key>): the GovFlow modeler bundle
 * (static/vendor/govflow-modeler/govflow-modeler.js → window.GovflowModeler) with its properties panel,
 * validation a moment after every change and on demand (clicking a problem selects its element), saving the
 * draft, comparing with the deployed version, the procedure's scenarios against the draft, and deployment with a
 * change note. The forms panel keeps the model's task forms (JSON Schema) as text — edit one, upload a .json
 * file, add, remove — and every call sends them with the diagram; the server checks each as a JSON Schema and its
 * problem is shown next to the form. The page's data comes from <script type="application/json" id="editor-data">,
 * its texts from <template id="editor-texts">. Every POST carries the CSRF token (X-CSRFToken). No inline
 * scripts, no eval.
 */
(function () {
  'use strict';

  var VALIDATE_DELAY = 800;
  var data, texts = {}, editor, timer = null, generation = 0, dirty = false;
  var forms = {}, currentForm = null, formProblems = {};

  function $(id) { return document.getElementById(id); }

  function t(key, values) {
    var s = texts[key] || key;
    Object.keys(values || {}).forEach(function (k) { s = s.split('{' + k + '}').join(values[k]); });
    return s;
  }

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf(), 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { error: 'error', message: response.statusText }; })
        .then(function (json) { json.httpStatus = response.status; return json; });
    });
  }

  function status(message, kind) {
    var el = $('editor-status');
    el.textContent = message || '';
    el.className = 'editor-status' + (kind ? ' status-' + kind : '');
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  function li(className) { var el = document.createElement('li'); if (className) el.className = className; return el; }

  function span(text, className) {
    var el = document.createElement('span');
    el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  // --- validation ---------------------------------------------------------------------------------

  function showProblems(result) {
    var list = $('problems'), state = $('validation-state');
    clear(list);
    var problems = result.problems || result.details || [];
    if (result.valid) {
      state.textContent = t('valid');
      state.className = 'validation-state ok';
    } else {
      state.textContent = result.message && !problems.length ? result.message : t('invalid', { n: problems.length });
      state.className = 'validation-state bad';
    }
    noteFormProblems(problems);
    problems.forEach(function (p) {
      var item = li('problem');
      item.setAttribute('data-element', p.element || '');
      if (p.form) {
        item.setAttribute('data-form', p.form);
        var open = document.createElement('button');
        open.type = 'button';
        open.className = 'linkish problem-element';
        open.textContent = p.form;
        open.addEventListener('click', function () { openForm(p.form); });
        item.appendChild(open);
      } else if (p.element) {
        var link = document.createElement('button');
        link.type = 'button';
        link.className = 'linkish problem-element';
        link.textContent = p.name ? p.name + ' (' + p.element + ')' : p.element;
        link.addEventListener('click', function () { editor.select(p.element); });
        item.appendChild(link);
        item.addEventListener('click', function (event) {
          if (event.target === item) editor.select(p.element);
        });
      }
      item.appendChild(span(p.message || '', 'problem-message'));
      if (p.line) item.appendChild(span(' · ' + (p.source || '') + ':' + p.line, 'muted small'));
      list.appendChild(item);
    });
  }

  function model(xml, extra) {
    var body = { xml: xml, forms: forms };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return body;
  }

  function validate() {
    var mine = ++generation;
    status(t('checking'));
    return editor.xml().then(function (xml) {
      return post(data.urls.validate, model(xml));
    }).then(function (result) {
      if (mine !== generation) return result;
      showProblems(result);
      status(dirty ? t('unsaved') : '');
      document.body.setAttribute('data-validated', String(mine));
      return result;
    });
  }

  function scheduleValidation() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { timer = null; validate(); }, VALIDATE_DELAY);
  }

  // --- draft, diff, scenarios, deploy ---------------------------------------------------------------

  function saveDraft() {
    return editor.xml().then(function (xml) { return post(data.urls.draft, model(xml)); }).then(function (r) {
      if (r.saved) { dirty = false; status(t('saved'), 'ok'); return; }
      if (r.details && r.details.length) showProblems({ valid: false, message: r.message, problems: r.details });
      status(r.message || t('error'), 'bad');
    });
  }

  function entryList(title, items, className) {
    var section = document.createElement('div');
    section.className = 'diff-group ' + className;
    var h = document.createElement('h3');
    h.textContent = title + ' (' + items.length + ')';
    section.appendChild(h);
    var list = document.createElement('ul');
    items.forEach(function (e) {
      var item = li('diff-item');
      item.setAttribute('data-element', e.id || '');
      var link = document.createElement('button');
      link.type = 'button';
      link.className = 'linkish';
      link.textContent = (e.name ? e.name + ' ' : '') + '(' + e.id + ', ' + e.type + ')';
      link.addEventListener('click', function () { editor.select(e.id); });
      item.appendChild(link);
      if (e.attrs && e.attrs.length) item.appendChild(span(' ' + e.attrs.join(', '), 'muted small'));
      list.appendChild(item);
    });
    section.appendChild(list);
    return section;
  }

  function compare() {
    var card = $('diff-card'), out = $('diff-result');
    card.hidden = false;
    clear(out);
    if (!data.deployed_xml) { out.textContent = t('no_deployed'); return Promise.resolve(); }
    return editor.compare(data.deployed_xml).then(function (d) {
      if (!d.added.length && !d.removed.length && !d.changed.length && !d.layout.length) {
        out.textContent = t('no_diff');
        return;
      }
      out.appendChild(entryList(t('added'), d.added, 'diff-added'));
      out.appendChild(entryList(t('removed'), d.removed, 'diff-removed'));
      out.appendChild(entryList(t('changed'), d.changed, 'diff-changed'));
      if (d.layout.length) out.appendChild(entryList(t('layout'), d.layout, 'diff-layout'));
    });
  }

  function scenarios() {
    var card = $('scenarios-card'), list = $('scenario-results');
    card.hidden = false;
    clear(list);
    status(t('running'));
    return editor.xml().then(function (xml) { return post(data.urls.scenarios, model(xml)); }).then(function (r) {
      status('');
      if (r.error) { list.appendChild(li('scenario failed')).textContent = r.message; return; }
      if (!r.results.length) { list.appendChild(li('muted')).textContent = t('no_scenarios'); return; }
      r.results.forEach(function (s) {
        var item = li('scenario ' + (s.passed ? 'passed' : 'failed'));
        item.appendChild(span(s.passed ? t('passed') : t('failed'), 'tag ' + (s.passed ? 'tag-ok' : 'tag-state-failed')));
        item.appendChild(span(' ' + (s.name || s.source), 'scenario-name'));
        (s.failures || []).forEach(function (f) { item.appendChild(span(f, 'scenario-failure')); });
        list.appendChild(item);
      });
    });
  }

  function deploy() {
    var note = $('deploy-note').value.trim();
    if (!note) { status(t('note_required'), 'bad'); $('deploy-note').focus(); return Promise.resolve(); }
    return editor.xml().then(function (xml) {
      return post(data.urls.deploy, model(xml, { note: note })).then(function (r) {
        if (r.httpStatus === 200) {
          dirty = false;
          status(t(r.status === 'unchanged' ? 'unchanged' : 'deployed', { v: r.version }), 'ok');
          data.deployed_xml = xml;
          data.deployed_version = r.version;
          $('deploy-note').value = '';
          document.body.setAttribute('data-deployed-version', String(r.version));
        } else {
          showProblems({ valid: false, message: r.message, problems: r.details || [] });
          status(r.message || t('error'), 'bad');
        }
      });
    });
  }

  // --- forms: JSON Schema as text, sent with the diagram -------------------------------------------------

  var NEW_FORM = '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}\n';

  function renderForms() {
    var list = $('form-list'), names = Object.keys(forms).sort();
    clear(list);
    if (!names.length) list.appendChild(li('muted')).textContent = t('no_forms');
    names.forEach(function (name) {
      var item = li('form-item' + (name === currentForm ? ' current' : '') +
                    (formProblems[name] ? ' has-problem' : ''));
      item.setAttribute('data-form', name);
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'linkish form-name';
      button.textContent = name;
      button.addEventListener('click', function () { openForm(name); });
      item.appendChild(button);
      list.appendChild(item);
    });
    $('form-current').textContent = currentForm === null ? t('no_form_selected') : currentForm;
    $('form-remove').disabled = currentForm === null;
    showFormProblem();
  }

  function showFormProblem() {
    var el = $('form-error'), message = currentForm !== null ? formProblems[currentForm] : '';
    el.hidden = !message;
    el.textContent = message || '';
  }

  function noteFormProblems(problems) {
    formProblems = {};
    problems.forEach(function (p) { if (p.form) formProblems[p.form] = p.message; });
    renderForms();
  }

  function openForm(name) {
    currentForm = name;
    var text = $('form-text');
    text.disabled = false;
    text.value = forms[name];
    renderForms();
  }

  function formsChanged() {
    dirty = true;
    scheduleValidation();
  }

  function putForm(name, text) {
    forms[name] = text;
    openForm(name);
    formsChanged();
  }

  function addForm() {
    var input = $('form-new-name'), name = input.value.trim();
    if (!name) { status(t('form_name_required'), 'bad'); input.focus(); return; }
    if (Object.prototype.hasOwnProperty.call(forms, name)) { status(t('form_exists', { name: name }), 'bad'); return; }
    input.value = '';
    putForm(name, NEW_FORM);
  }

  function uploadForm() {
    var input = $('form-upload'), file = input.files && input.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () { putForm(file.name, String(reader.result)); input.value = ''; };
    reader.readAsText(file, 'utf-8');
  }

  function removeForm() {
    if (currentForm === null) return;
    delete forms[currentForm];
    delete formProblems[currentForm];
    currentForm = null;
    $('form-text').value = '';
    $('form-text').disabled = true;
    renderForms();
    formsChanged();
  }

  function startForms() {
    forms = data.forms || {};
    var text = $('form-text');
    text.disabled = true;
    text.addEventListener('input', function () {
      if (currentForm === null) return;
      forms[currentForm] = text.value;
      formsChanged();
    });
    $('form-add').addEventListener('click', addForm);
    $('form-new-name').addEventListener('keydown', function (event) {
      if (event.key === 'Enter') { event.preventDefault(); addForm(); }
    });
    $('form-upload').addEventListener('change', uploadForm);
    $('form-remove').addEventListener('click', removeForm);
    var names = Object.keys(forms).sort();
    if (names.length) openForm(names[0]); else renderForms();
  }

  // --- start ----------------------------------------------------------------------------------------

  function start() {
    data = JSON.parse($('editor-data').textContent);
    var template = $('editor-texts');
    Array.prototype.forEach.call(template.content.querySelectorAll('[data-key]'), function (el) {
      texts[el.getAttribute('data-key')] = el.textContent.trim();
    });
    startForms();
    window.GovflowModeler.texts = texts;
    window.GovflowModeler.roles = data.roles || [];
    editor = window.GovflowModeler.create({ container: $('canvas'), properties: $('properties') });
    window.govflowEditor = editor;  // for the browser tests and the console
    editor.open(data.xml).then(function () {
      editor.modeler.get('canvas').zoom('fit-viewport');
      editor.modeler.on('commandStack.changed', function () { dirty = true; scheduleValidation(); });
      document.body.setAttribute('data-editor-ready', '1');
      return validate();
    }).catch(function (err) { status(String(err && err.message || err), 'bad'); });

    $('btn-validate').addEventListener('click', validate);
    $('btn-save').addEventListener('click', saveDraft);
    $('btn-diff').addEventListener('click', compare);
    $('btn-scenarios').addEventListener('click', scenarios);
    $('btn-deploy').addEventListener('click', deploy);
    window.addEventListener('beforeunload', function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ''; }
    });
  }

  // --- the DMN page (/admin/dmn/<key>): dmn-js modeler, one table file at a time, saved with the draft ----

  function startDmn() {
    var dmn = JSON.parse($('dmn-data').textContent), select = $('dmn-file');
    var template = $('editor-texts');
    if (!select || !template) return;
    Array.prototype.forEach.call(template.content.querySelectorAll('[data-key]'), function (el) {
      texts[el.getAttribute('data-key')] = el.textContent.trim();
    });
    var modeler = new window.DmnJS({ container: $('dmn-canvas') });
    var edited = {}, current = null;
    window.govflowDmn = modeler;

    function keep() {
      if (!current) return Promise.resolve();
      return modeler.saveXML({ format: true }).then(function (r) { edited[current] = r.xml; });
    }

    function openFile(name) {
      return keep().then(function () {
        current = name;
        return modeler.importXML(edited[name] || dmn.tables[name]);
      }).then(function () {
        var table = modeler.getViews().filter(function (v) { return v.type === 'decisionTable'; })[0];
        if (table) modeler.open(table);
        document.body.setAttribute('data-dmn-ready', name);
      }).catch(function (err) { status(String(err && err.message || err), 'bad'); });
    }

    select.addEventListener('change', function () { openFile(select.value); });
    $('dmn-save').addEventListener('click', function () {
      keep().then(function () { return post(dmn.urls.save, { dmn: edited }); }).then(function (r) {
        status(r.saved ? t('saved') : (r.message || t('error')), r.saved ? 'ok' : 'bad');
      });
    });
    openFile(select.value);
  }

  function boot() {
    if ($('dmn-data')) startDmn();
    else if ($('editor-data')) start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}());
