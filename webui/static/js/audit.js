/*
 * GovFlow auditors' step-through (/audit/instances/<id>): choosing an event in the timeline, the previous/next
 * buttons or the arrow keys shows that event's panels (rendered by the server into <template id="event-detail-ID"> and
 * <template id="event-data-ID">)
 * and redraws the diagram's marks in place (window.GovflowDiagram.render, webui/static/js/diagram.js), and puts
 * ?event=ID in the address, so the browser's back button and a reload show the same event. Stepping asks the
 * server nothing (a classified instance's view is recorded once, when the page loads). Without this script
 * every step is a plain link the server renders. No inline scripts, no eval (CSP).
 */
(function () {
  'use strict';

  var timeline, items, diagram, prevLink, nextLink, position, replayEvent, templates, marks;

  function byId(id) { return document.getElementById(id); }

  function indexOf(eventId) {
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute('data-event') === String(eventId)) return i;
    }
    return -1;
  }

  function current() {
    for (var i = 0; i < items.length; i++) {
      if (items[i].classList.contains('selected')) return i;
    }
    return items.length - 1;
  }

  function urlFor(eventId) {
    var url = new URL(window.location.href);
    url.searchParams.set('event', eventId);
    return url.pathname + url.search;
  }

  function setLink(link, index) {
    if (!link) return;
    if (index >= 0 && index < items.length) {
      link.setAttribute('href', urlFor(items[index].getAttribute('data-event')));
      link.classList.remove('disabled');
      link.removeAttribute('aria-disabled');
    } else {
      link.removeAttribute('href');
      link.classList.add('disabled');
      link.setAttribute('aria-disabled', 'true');
    }
  }

  function listText(item, name) {
    try {
      var ids = JSON.parse(item.getAttribute('data-' + name) || '[]');
      return ids.length ? ids.join('、') : '—';
    } catch (err) {
      return '—';
    }
  }

  function show(index, push) {
    if (index < 0 || index >= items.length) return false;
    var item = items[index];
    var eventId = item.getAttribute('data-event');
    var detail = byId('event-detail-' + eventId), data = byId('event-data-' + eventId);
    if (!detail || !data) return false;  // too many events to carry: let the link load the page
    byId('event-detail-slot').replaceChildren(detail.content.cloneNode(true));
    byId('event-data-slot').replaceChildren(data.content.cloneNode(true));
    for (var i = 0; i < items.length; i++) {
      items[i].classList.toggle('selected', i === index);
      if (i === index) items[i].setAttribute('aria-current', 'step');
      else items[i].removeAttribute('aria-current');
    }
    ['finished', 'active', 'returned'].forEach(function (name) {
      diagram.setAttribute('data-' + name, item.getAttribute('data-' + name) || '[]');
      var shown = marks && marks.querySelector('.marks-' + name);
      if (shown) shown.textContent = listText(item, name);
    });
    if (window.GovflowDiagram) {
      window.GovflowDiagram.render(diagram).catch(function (err) { console.error('GovflowDiagram:', err); });
    }
    setLink(prevLink, index - 1);
    setLink(nextLink, index + 1);
    if (position && templates) {
      position.textContent = (templates.getAttribute('data-position-text') || '{n} / {total}')
        .replace('{n}', String(index + 1)).replace('{total}', String(items.length));
    }
    if (replayEvent) replayEvent.value = eventId;
    if (push) window.history.pushState({ event: eventId }, '', urlFor(eventId));
    keepVisible(item);
    return true;
  }

  function keepVisible(item) {
    var list = timeline;
    var top = item.offsetTop - list.offsetTop;
    if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
  }

  function step(delta) {
    var target = current() + delta;
    if (target < 0 || target >= items.length) return;
    if (!show(target, true)) {
      var link = delta < 0 ? prevLink : nextLink;
      if (link && link.getAttribute('href')) window.location.assign(link.getAttribute('href'));
    }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (target && target.isContentEditable);
  }

  function init() {
    timeline = byId('audit-timeline');
    diagram = byId('audit-diagram');
    if (!timeline || !diagram) return;
    items = Array.prototype.slice.call(timeline.querySelectorAll('li[data-event]'));
    prevLink = byId('step-prev');
    nextLink = byId('step-next');
    position = byId('step-position');
    replayEvent = byId('replay-event');
    templates = byId('event-templates');
    marks = byId('diagram-marks');
    document.body.classList.add('audit-stepping');

    timeline.addEventListener('click', function (event) {
      var link = event.target.closest ? event.target.closest('a.event-link') : null;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      var item = link.closest('li[data-event]');
      if (show(indexOf(item.getAttribute('data-event')), true)) event.preventDefault();
    });
    [[prevLink, -1], [nextLink, 1]].forEach(function (pair) {
      if (!pair[0]) return;
      pair[0].addEventListener('click', function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        step(pair[1]);
      });
    });
    document.addEventListener('keydown', function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
      if (event.key === 'ArrowLeft' || (event.key === 'ArrowUp' && timeline.contains(document.activeElement))) {
        event.preventDefault();
        step(-1);
      } else if (event.key === 'ArrowRight' || (event.key === 'ArrowDown' && timeline.contains(document.activeElement))) {
        event.preventDefault();
        step(1);
      }
    });
    window.addEventListener('popstate', function () {
      var wanted = new URL(window.location.href).searchParams.get('event');
      var index = wanted ? indexOf(wanted) : items.length - 1;
      if (index >= 0 && !show(index, false)) window.location.reload();
    });
    var only = byId('only-changed');
    if (only) {
      only.addEventListener('change', function () {
        document.body.classList.toggle('audit-only-changed', only.checked);
      });
      document.body.classList.toggle('audit-only-changed', only.checked);
    }
    var selected = timeline.querySelector('li.selected');
    if (selected) keepVisible(selected);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
