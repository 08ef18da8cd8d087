/*
 * GovFlow process diagrams: draws every <div class="bpmn-diagram"> on the page with the vendored
 * bpmn-js navigated viewer (window.BpmnJS, from /static/vendor/bpmn-navigated-viewer.production.min.js).
 *
 *   <div class="bpmn-diagram"
 *        data-xml-url="/definitions/leave/3/xml"      (or data-xml="<?xml ...>" with the XML inline)
 *        data-finished='["start", "vice_approval"]'  steps done        -> green
 *        data-active='["mayor_approval"]'            steps open now    -> blue, bold
 *        data-returned='["revise"]'></div>           steps sent back   -> orange, dashed
 *
 * A step listed more than once is shown by the first of active, returned, finished.
 * window.GovflowDiagram.render(element) draws (or redraws after the data attributes changed) one
 * element and returns a Promise; the XML is fetched and imported again only when its source changed,
 * so a page that steps through an instance's history keeps its zoom and only the marks move.
 * No inline handlers and no eval: works under a Content-Security-Policy without 'unsafe-inline'.
 */
(function () {
  'use strict';

  var MARKS = [
    ['active', 'govflow-active'],
    ['returned', 'govflow-returned'],
    ['finished', 'govflow-finished']
  ];
  var STATE = typeof WeakMap === 'function' ? new WeakMap() : null;

  function state(element) {
    var s = STATE.get(element);
    if (!s) {
      s = { viewer: null, source: null, marked: [], fitted: false, observer: null, pending: null };
      STATE.set(element, s);
    }
    return s;
  }

  function idList(element, name) {
    var raw = element.getAttribute('data-' + name);
    if (!raw) return [];
    try {
      var value = JSON.parse(raw);
      return Array.isArray(value) ? value.map(String) : [];
    } catch (err) {
      console.warn('GovflowDiagram: data-' + name + ' is not a JSON list of ids', raw);
      return [];
    }
  }

  function source(element) {
    var inline = element.getAttribute('data-xml');
    if (inline) return { key: 'inline:' + inline, xml: inline };
    var url = element.getAttribute('data-xml-url');
    if (url) return { key: 'url:' + url, url: url };
    return null;
  }

  function loadXml(src) {
    if (src.xml !== undefined) return Promise.resolve(src.xml);
    return fetch(src.url, { credentials: 'same-origin', headers: { Accept: 'application/xml, text/xml' } })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status + ' for ' + src.url);
        return response.text();
      });
  }

  function showError(element, s, err) {
    if (s.viewer) {
      s.viewer.destroy();
      s.viewer = null;
    }
    s.source = null;
    element.classList.add('bpmn-diagram-failed');
    var message = document.createElement('p');
    message.className = 'bpmn-diagram-error';
    message.textContent = '流程图无法显示（' + (err && err.message ? err.message : String(err)) + '）';
    element.replaceChildren(message);
  }

  function hasSize(element) {
    return element.clientWidth > 0 && element.clientHeight > 0;
  }

  function fit(element, s) {
    if (!s.viewer) return;
    if (!hasSize(element)) {
      // hidden (a closed tab or <details>): fit once it gets a size
      s.fitted = false;
      if (!s.observer && typeof ResizeObserver === 'function') {
        s.observer = new ResizeObserver(function () {
          if (!s.fitted && hasSize(element)) fit(element, s);
        });
        s.observer.observe(element);
      }
      return;
    }
    s.viewer.get('canvas').zoom('fit-viewport', 'auto');
    s.fitted = true;
  }

  function mark(element, s) {
    var canvas = s.viewer.get('canvas');
    var registry = s.viewer.get('elementRegistry');
    s.marked.forEach(function (entry) {
      if (registry.get(entry[0])) canvas.removeMarker(entry[0], entry[1]);
    });
    s.marked = [];
    var seen = {};
    MARKS.forEach(function (pair) {
      idList(element, pair[0]).forEach(function (id) {
        if (seen[id] || !registry.get(id)) return;
        seen[id] = true;
        canvas.addMarker(id, pair[1]);
        s.marked.push([id, pair[1]]);
      });
    });
  }

  function draw(element) {
    if (typeof window.BpmnJS !== 'function') {
      return Promise.reject(new Error('bpmn-navigated-viewer.production.min.js is not loaded'));
    }
    var s = state(element);
    var src = source(element);
    if (!src) return Promise.reject(new Error('the element has neither data-xml-url nor data-xml'));
    if (s.viewer && s.source === src.key) {
      mark(element, s);
      return Promise.resolve(s.viewer);
    }
    return loadXml(src).then(function (xml) {
      if (!s.viewer) {
        element.replaceChildren();
        element.classList.remove('bpmn-diagram-failed');
        s.viewer = new window.BpmnJS({ container: element });
      }
      return s.viewer.importXML(xml).then(function () {
        s.source = src.key;
        fit(element, s);
        mark(element, s);
        element.classList.add('bpmn-diagram-ready');
        return s.viewer;
      });
    });
  }

  function render(element) {
    if (!element) return Promise.reject(new Error('GovflowDiagram.render needs an element'));
    var s = state(element);
    // redraws of one element run one after the other, so the last call's attributes win
    var previous = s.pending || Promise.resolve();
    var run = previous.catch(function () {}).then(function () { return draw(element); });
    s.pending = run.catch(function (err) {
      showError(element, s, err);
      throw err;
    });
    return s.pending;
  }

  function renderAll(root) {
    var elements = (root || document).querySelectorAll('.bpmn-diagram');
    return Promise.all(Array.prototype.map.call(elements, function (element) {
      return render(element).catch(function (err) {
        console.error('GovflowDiagram:', err);
        return null;
      });
    }));
  }

  window.GovflowDiagram = { render: render, renderAll: renderAll };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { renderAll(); });
  } else {
    renderAll();
  }
}());
