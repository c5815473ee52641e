#!/usr/bin/env python3
"""The reference for `lair template`: renders chat templates with Python's
jinja2 exactly as HF transformers applies them (ImmutableSandboxedEnvironment
with trim_blocks, lstrip_blocks and loop controls; raise_exception and
strftime_now; a tojson that keeps non-ASCII text), in one process for all
cases.

usage: template_oracle.py OUTDIR CONV_DIR [--template FILE]... [--model FILE]...

A conversation file holds "messages", and optionally "tools", "bos_token",
"eos_token" and "vars" (more template variables).
For every template (or GGUF model) x conversation (CONV_DIR/*.json) x
add_generation_prompt in (off, on) it writes OUTDIR/CASE.out (the rendered
text, UTF-8) or OUTDIR/CASE.err ("raise<TAB>message" for raise_exception,
"error<TAB>Type: message" for anything else), the conversation's messages and
tools as OUTDIR/CONV.messages.json / OUTDIR/CONV.tools.json, and one line per
case to OUTDIR/cases.txt, fields separated by US (0x1f):
  group case kind(file|model) path messages tools(or -) agp(0|1) =bos(or -) =eos(or -)
where "-" means "the model's own" (no --bos-token / --eos-token flag).
A model without a chat template is rendered as ChatML, written out here
independently of lair's own fallback template.
Exit status 3 when jinja2 cannot be imported."""
import json
import os
import sys
from datetime import datetime

try:
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:
    print("template_oracle: jinja2 is not available: %s" % e)
    sys.exit(3)


class Raised(TemplateError):
    pass


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


SEP = "\x1f"  # field separator of cases.txt (no template, file or token text contains it)

ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now


def chatml(messages, add_generation_prompt):
    def text(content):  # a string, or the text parts of a list of parts
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text")
        return ""

    out = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], text(m.get("content"))) for m in messages)
    return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def model_template(path):
    """(template or None, bos text, eos text) of a GGUF file."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gguf_check
    kv, _ = gguf_check.parse(path)
    toks = kv.get("tokenizer.ggml.tokens", [])

    def tok(key):
        i = kv.get(key)
        return toks[i] if isinstance(i, int) and 0 <= i < len(toks) else ""

    return kv.get("tokenizer.chat_template"), tok("tokenizer.ggml.bos_token_id"), tok("tokenizer.ggml.eos_token_id")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    outdir, convdir = sys.argv[1], sys.argv[2]
    sources = []  # (group, kind, path)
    args = sys.argv[3:]
    for i in range(0, len(args) - 1, 2):
        kind = {"--template": "file", "--model": "model"}[args[i]]
        name = os.path.basename(args[i + 1])
        for suffix in (".jinja", ".gguf"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        sources.append((name, kind, args[i + 1]))
    os.makedirs(outdir, exist_ok=True)
    convs = []
    for f in sorted(os.listdir(convdir)):
        if not f.endswith(".json"):
            continue
        c = json.load(open(os.path.join(convdir, f), encoding="utf-8"))
        name = f[:-5]
        mpath = os.path.join(outdir, name + ".messages.json")
        # extra template variables ride along in the object form of --messages
        mdoc = dict(c.get("vars", {}), messages=c["messages"]) if "vars" in c else c["messages"]
        json.dump(mdoc, open(mpath, "w", encoding="utf-8"), ensure_ascii=False)
        tpath = "-"
        if "tools" in c:
            tpath = os.path.join(outdir, name + ".tools.json")
            json.dump(c["tools"], open(tpath, "w", encoding="utf-8"), ensure_ascii=False)
        convs.append((name, c, mpath, tpath))
    lines = []
    for group, kind, path in sources:
        tmpl = None
        if kind == "file":
            src = open(path, encoding="utf-8").read()
            bos_m = eos_m = None
        else:
            src, bos_m, eos_m = model_template(path)
        try:
            tmpl = ENV.from_string(src) if src is not None else None
            compile_error = None
        except Exception as e:  # a template jinja2 cannot compile: every case must fail
            compile_error = e
        for cname, c, mpath, tpath in convs:
            for agp in (False, True):
                case = "%s__%s__%d" % (group, cname, agp)
                bos = bos_m if kind == "model" else c.get("bos_token", "")
                eos = eos_m if kind == "model" else c.get("eos_token", "")
                variables = dict(c.get("vars", {}))
                variables.update(messages=c["messages"], add_generation_prompt=agp, bos_token=bos, eos_token=eos)
                if "tools" in c:
                    variables["tools"] = c["tools"]
                try:
                    if compile_error:
                        raise compile_error
                    text = tmpl.render(**variables) if tmpl is not None else chatml(c["messages"], agp)
                    open(os.path.join(outdir, case + ".out"), "wb").write(text.encode("utf-8"))
                except Raised as e:
                    open(os.path.join(outdir, case + ".err"), "w", encoding="utf-8").write("raise\t%s" % e.message)
                except Exception as e:
                    open(os.path.join(outdir, case + ".err"), "w", encoding="utf-8").write(
                        "error\t%s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
                flag = lambda s: "-" if kind == "model" else "=" + s
                lines.append(SEP.join([group, case, kind, path, mpath, tpath, "1" if agp else "0", flag(bos), flag(eos)]))
    with open(os.path.join(outdir, "cases.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
