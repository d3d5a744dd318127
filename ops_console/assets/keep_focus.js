/* Keep the focus and caret of a field while Dash re-creates it. Dash 4 remounts every child of
 * a container whose `children` change, also when a callback's Patch only inserts one item: a
 * live card arriving in the requests queue would take the focus (not the text, which Dash
 * keeps) from the note an operator is typing in another card. Inside a `.keep-focus`
 * container, a focused element with an id that is removed is refocused as soon as its
 * replacement (same id) is in the page, with the same selection. */
(function () {
  "use strict";
  var last = null;  // {el, id, start, end}

  function remember(e) {
    var el = e.target;
    if (!el || !el.id || !el.closest || !el.closest(".keep-focus")) { return; }
    var sel = {start: null, end: null};
    try { sel = {start: el.selectionStart, end: el.selectionEnd}; } catch (err) { /* no caret */ }
    last = {el: el, id: el.id, start: sel.start, end: sel.end};
  }

  ["focusin", "input", "keyup", "click", "select"].forEach(function (type) {
    document.addEventListener(type, remember, true);
  });

  new MutationObserver(function () {
    if (!last || last.el.isConnected) { return; }
    var active = document.activeElement;
    if (active && active !== document.body) { last = null; return; }  // the user moved on
    var again = document.getElementById(last.id);
    if (!again) { return; }  // not (yet) back: wait for the next mutation
    var caret = last;
    last = null;
    again.focus();
    if (caret.start !== null && again.setSelectionRange) {
      try { again.setSelectionRange(caret.start, caret.end); } catch (err) { /* not text */ }
    }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
