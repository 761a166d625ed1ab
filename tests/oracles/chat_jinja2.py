#!/usr/bin/python3
"""Reference renderer for synpref's chat template tests: Debian's python3-jinja2 configured the way
transformers' apply_chat_template configures it (utils/chat_template_utils.py,
_compile_jinja_template): an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
loopcontrols extension, a {% generation %} block, and the raise_exception / strftime_now globals and
the json.dumps-based tojson filter. strftime_now reads a pinned "now" per case so renders are
reproducible.

Run with /usr/bin/python3 (the interpreter that has jinja2). Input on stdin, one JSON document:
  {"templates": {"<name>": "<source>", ...},
   "cases": [{"template": "<name>", "context": {...}, "now": "YYYY-MM-DDTHH:MM:SS" | null}, ...]}
Output on stdout, one JSON document with a result per case, in order:
  {"results": [{"ok": true, "text": "..."} |
               {"ok": false, "type": "<exception class>", "message": "..."}, ...]}
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationBlock(Extension):
    """{% generation %}...{% endgeneration %}: renders its body (transformers tracks the span;
    the rendered text is the same)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides Jinja's HTML-escaping tojson with plain json.dumps.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_environment(now_holder):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now_holder[0].strftime(fmt)
    return env


def main():
    request = json.load(sys.stdin)
    now_holder = [datetime.now()]
    env = make_environment(now_holder)
    compiled = {}
    for name, source in request["templates"].items():
        try:
            compiled[name] = env.from_string(source)
        except Exception as e:  # noqa: BLE001 - reported per case
            compiled[name] = e
    results = []
    for case in request["cases"]:
        template = compiled[case["template"]]
        if isinstance(template, Exception):
            results.append({"ok": False, "type": type(template).__name__, "message": str(template)})
            continue
        now = case.get("now")
        now_holder[0] = datetime.fromisoformat(now) if now else datetime.now()
        try:
            results.append({"ok": True, "text": template.render(**case["context"])})
        except Exception as e:  # noqa: BLE001 - the test compares failures too
            results.append({"ok": False, "type": type(e).__name__, "message": str(e)})
    out = json.dumps({"results": results}, ensure_ascii=False)
    sys.stdout.buffer.write(out.encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    main()
