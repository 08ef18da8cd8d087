/* GovFlow web UI behaviour: live countdowns for time limits, repeatable form groups. No inline scripts (CSP). */
(function () {
  "use strict";
  var zh = (document.documentElement.lang || "zh-CN").indexOf("zh") === 0;

  // The server's clock (fixed in tests and demos) against the browser's, so countdowns agree with the server.
  var serverNow = Date.parse(document.body.getAttribute("data-now") || "");
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clock(seconds) {
    var s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(r);
  }

  function tick() {
    var now = Date.now() + offset;
    var items = document.querySelectorAll(".countdown[data-due]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i], due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var left = (due - now) / 1000;
      if (left >= 0) {
        el.textContent = (zh ? "剩 " : "") + clock(left) + (zh ? "" : " left");
        el.classList.remove("missed");
        el.classList.toggle("warning", left < 300);
      } else {
        el.textContent = (zh ? "已超时 " : "missed by ") + clock(-left);
        el.classList.add("missed");
        el.classList.remove("warning");
      }
    }
  }

  function addGroup(button) {
    var box = document.getElementById(button.getAttribute("data-for"));
    var template = button.parentNode.querySelector("template.group-template");
    if (!box || !template) { return; }
    var index = parseInt(box.getAttribute("data-next") || "0", 10);
    var group = document.createElement("div");
    group.className = "group";
    group.innerHTML = template.innerHTML.split("__i__").join(String(index));
    box.appendChild(group);
    box.setAttribute("data-next", String(index + 1));
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest(".add-group") : null;
    if (target) { event.preventDefault(); addGroup(target); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    if (document.querySelector(".countdown[data-due]")) { window.setInterval(tick, 1000); }
    var firstError = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError) { firstError.focus(); }
  });
})();
