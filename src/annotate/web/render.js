// Safe rendering of untrusted text (conversation turns, responses, notes, judge answers).
//
// Everything is built with document.createElement and textContent: no string of pair text is ever
// parsed as HTML (no HTML-parsing DOM sink is used anywhere in the UI), so hostile content renders
// as the characters it is. The markdown subset: ``` fenced code blocks, # headings, - / * / 1. list items, blank-line
// paragraphs, `inline code`, **bold**, *italic*. Links stay text.
"use strict";

const SafeRender = (() => {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Inline spans of one line of text: `code`, **bold**, *italic*; the rest as text nodes.
  function appendInline(parent, text) {
    const pattern = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*)/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (match[1]) parent.appendChild(el("code", "inline", token.slice(1, -1)));
      else if (match[2]) parent.appendChild(el("strong", null, token.slice(2, -2)));
      else parent.appendChild(el("em", null, token.slice(1, -1)));
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function appendLines(parent, lines) {
    lines.forEach((line, i) => {
      if (i > 0) parent.appendChild(document.createElement("br"));
      appendInline(parent, line);
    });
  }

  // Block structure of the non-code text between fences.
  function appendBlocks(parent, text) {
    const lines = text.split("\n");
    let paragraph = [];
    let list = null;
    const flush = () => {
      if (paragraph.length) {
        const p = el("p");
        appendLines(p, paragraph);
        parent.appendChild(p);
        paragraph = [];
      }
    };
    for (const line of lines) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*(?:[-*]|\d+[.)])\s+(.*)$/.exec(line);
      if (heading) {
        flush();
        list = null;
        const h = el("h" + Math.min(6, heading[1].length + 2));
        appendInline(h, heading[2]);
        parent.appendChild(h);
      } else if (item) {
        flush();
        if (!list) {
          list = el(/^\s*\d/.test(line) ? "ol" : "ul");
          parent.appendChild(list);
        }
        const li = el("li");
        appendInline(li, item[1]);
        list.appendChild(li);
      } else if (line.trim() === "") {
        flush();
        list = null;
      } else {
        list = null;
        paragraph.push(line);
      }
    }
    flush();
  }

  // Returns a DocumentFragment for `text` (any string; non-strings render as their JSON).
  function markdown(text) {
    if (typeof text !== "string") text = JSON.stringify(text);
    const fragment = document.createDocumentFragment();
    const fence = /^```([^\n`]*)\n([\s\S]*?)(?:^```[ \t]*$|(?![\s\S]))/gm;
    let last = 0;
    let match;
    while ((match = fence.exec(text)) !== null) {
      appendBlocks(fragment, text.slice(last, match.index));
      const pre = el("pre", "code");
      const code = el("code", null, match[2].replace(/\n$/, ""));
      if (match[1].trim()) pre.dataset.lang = match[1].trim().slice(0, 20);
      pre.appendChild(code);
      fragment.appendChild(pre);
      last = match.index + match[0].length;
      if (match[0].length === 0) fence.lastIndex++;
    }
    appendBlocks(fragment, text.slice(last));
    return fragment;
  }

  return { el, markdown };
})();
