/* The type-ahead class picker (issue 24): any class by name with the keyboard alone.
 *
 * Key l (input.js) or the "all N classes" button opens a text box over the sample panel
 * (#class-picker, app/layouts/sample.py). Typing filters the class names, case-insensitively:
 * the names that start with the text first, then those that contain it, each in class order.
 * Up and down move the highlight, Enter labels the selected sample with the highlighted class
 * through LL.label (the same path as a digit key, so a label still waits until the sample's image
 * is on screen), Esc closes. A click on a match labels too.
 *
 * Names go into the page as text (textContent), never as markup.
 */
(function () {
  "use strict";
  var LL = window.LL;
  var box = null, input = null, list = null;
  var matches = [], active = 0;

  function filter(text) {
    var q = text.trim().toLowerCase(), names = LL.classes().names, first = [], then = [];
    for (var c = 0; c < names.length; c++) {
      var at = names[c].toLowerCase().indexOf(q);
      if (at === 0) first.push(c);
      else if (at > 0) then.push(c);
    }
    return first.concat(then);
  }
  LL.filterClasses = filter; // tests read it

  function build() {
    box = document.getElementById("class-picker");
    if (!box) return false;
    if (input) return true;
    input = document.createElement("input");
    input.type = "text";
    input.className = "form-control form-control-sm ll-picker-input";
    input.placeholder = "type a class name, Enter to label";
    input.setAttribute("aria-label", "class name");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-controls", "class-picker-list");
    input.setAttribute("autocomplete", "off");
    list = document.createElement("ul");
    list.id = "class-picker-list";
    list.className = "ll-picker-list";
    list.setAttribute("role", "listbox");
    box.appendChild(input);
    box.appendChild(list);
    input.addEventListener("input", function () { active = 0; render(); });
    input.addEventListener("keydown", onKey);
    input.addEventListener("blur", function () { setTimeout(close, 0); });
    // mousedown, not click: the input must not lose focus (and close the picker) first
    list.addEventListener("mousedown", function (e) {
      var li = e.target.closest && e.target.closest("li[data-class]");
      if (!li) return;
      e.preventDefault();
      choose(+li.getAttribute("data-class"));
    });
    return true;
  }

  function render() {
    var k = LL.classes();
    matches = filter(input.value);
    active = Math.max(0, Math.min(active, matches.length - 1));
    list.textContent = "";
    if (!matches.length) {
      var none = document.createElement("li");
      none.className = "ll-picker-none text-muted";
      none.textContent = "no class matches";
      list.appendChild(none);
    }
    for (var i = 0; i < matches.length; i++) {
      var c = matches[i], li = document.createElement("li"), sw = document.createElement("span");
      li.setAttribute("data-class", String(c));
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.className = "ll-picker-item" + (i === active ? " active" : "");
      li.title = k.names[c];
      sw.className = "ll-swatch me-1";
      sw.style.background = k.colours[c] || "#999";
      li.appendChild(sw);
      li.appendChild(document.createTextNode(k.names[c]));
      if (c < k.keys) {
        var key = document.createElement("kbd");
        key.className = "ms-1";
        key.textContent = String(c);
        li.appendChild(key);
      }
      list.appendChild(li);
    }
    var on = list.children[active];
    if (on && on.scrollIntoView) on.scrollIntoView({ block: "nearest" });
  }

  function onKey(e) {
    var k = e.key;
    if (k === "ArrowDown" || k === "ArrowUp") {
      e.preventDefault();
      if (matches.length) active = (active + (k === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
      render();
    } else if (k === "Enter") {
      e.preventDefault();
      if (matches.length) choose(matches[active]);
      else LL.notice("no class matches " + JSON.stringify(input.value));
    } else if (k === "Escape") {
      e.preventDefault();
      close();
    }
  }

  function choose(c) {
    close();
    LL.label(c);
  }

  LL.pickerOpen = function () { return !!box && box.style.display !== "none"; };

  LL.openPicker = function () {
    if (LL.selected === null) {
      LL.notice("select a sample first (click a point or press n)");
      return;
    }
    if (!build()) return;
    box.style.display = "";
    input.value = "";
    active = 0;
    render();
    input.focus();
  };

  function close() {
    if (!box || box.style.display === "none") return;
    box.style.display = "none";
    if (document.activeElement === input) input.blur();
  }
  LL.closePicker = close;
})();
