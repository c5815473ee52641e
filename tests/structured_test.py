#!/usr/bin/env python3
"""Structured output and tool calls through `lair serve`, end to end, with the
golden tiny models (random weights: left alone they write garbage, so every
valid output is the grammar's doing).  The oracle is Debian's python3-jsonschema
(draft 2020-12 validator with format checks), independent of lair's compiler.

Prints one line per case: "ok NAME" / "not ok NAME: why".
usage: structured_test.py LAIR_BIN TESTDATA_DIR TMPDIR
"""
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import http.client

import jsonschema

from casekit import Cases

LAIR, TD, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
# Under sanitizers (make asan) everything runs several times slower: fewer
# samples there; the full counts run in the plain build.
QUICK = bool(os.environ.get("LAIR_SANITIZED"))
N_SCHEMA_REQUESTS = 40 if QUICK else 200
CALLS_PER_FAMILY = 3 if QUICK else 19
GOLDEN = os.path.join(TD, "golden")
TEMPLATES = os.path.join(TD, "templates")

cases = Cases(600)
case = cases.case


class Server:
    def __init__(self, *args, name="srv"):
        self.log = os.path.join(TMP, name + ".log")
        self.proc = subprocess.Popen([LAIR, "serve", "--port", "0", "-t", "1"] + list(args), stdout=subprocess.PIPE,
                                     stderr=open(self.log, "wb"))
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and not self.port:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if not self.port:
            self.proc.kill()
            raise RuntimeError("server did not start: " + open(self.log).read()[-500:])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def post(port, path, body, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        c.request("POST", path, data, {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def sse(raw):
    """The JSON events of an SSE body (without [DONE])."""
    out = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: ") and block != "data: [DONE]":
            out.append(json.loads(block[6:]))
    return out


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# ---- schemas: what users ask for, Japanese included ---------------------------------------------

TASKS = {"type": "array", "maxItems": 3, "items": {
    "type": "object", "additionalProperties": False,
    "properties": {"title": {"type": "string", "maxLength": 40},
                   "due_date": {"type": ["string", "null"], "format": "date"},
                   "priority": {"enum": ["高", "中", "低"]},
                   "owner": {"type": ["string", "null"], "maxLength": 20}},
    "required": ["title", "due_date", "priority", "owner"]}}
SCHEMAS = [
    TASKS,
    {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "member": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 4}},
     "required": ["name", "age", "member"]},
    {"enum": ["東京", "大阪", "名古屋", "福岡"]},
    {"type": "object", "$defs": {"node": {"type": "object", "properties": {
        "value": {"type": "integer", "minimum": -50, "maximum": 50},
        "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}},
        "required": ["value"], "additionalProperties": False}},
     "properties": {"root": {"$ref": "#/$defs/node"}}, "required": ["root"]},
    {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 10}, {"type": "null"}]},
    {"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"}},
     "required": ["code", "id", "at"], "additionalProperties": False},
    {"type": "array", "prefixItems": [{"type": "string", "maxLength": 6}, {"type": "number"}, {"const": "済"}],
     "items": False},
    {"type": "object", "properties": {"決定事項": {"type": "array", "items": {"type": "string", "maxLength": 30},
                                              "minItems": 1, "maxItems": 3},
                                      "リスク": {"type": ["string", "null"], "maxLength": 30}},
     "required": ["決定事項", "リスク"], "additionalProperties": False},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "exclusiveMinimum": 0,
                                                                      "exclusiveMaximum": 10}},
     "additionalProperties": {"type": "integer"}, "required": ["ok"]},
    {"type": "string", "format": "email"},
]

MODELS = [f for f in sorted(os.listdir(GOLDEN)) if f.endswith(".gguf") and
          re.search(r"-(F32|F16|Q8_0|Q4_K_M)\.gguf$", f)]


@case("structured_%d_schemas_never_break" % N_SCHEMA_REQUESTS)
def _():
    ids = [m[:-5] for m in MODELS]
    srv = Server(*sum((["-m", os.path.join(GOLDEN, m)] for m in MODELS), []), "--parallel", "8", "--ctx", "4096",
                 name="schemas")
    try:
        def one(i):
            schema = SCHEMAS[i % len(SCHEMAS)]
            model = ids[i % len(ids)]
            kind = i % 3
            msgs = [{"role": "user", "content": "会議メモからタスクを抽出して JSON で返してください。"}]
            if kind == 0:
                st, b = post(srv.port, "/v1/chat/completions", {
                    "model": model, "messages": msgs, "max_tokens": 200, "seed": i, "temperature": 1.0,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema,
                                                                               "strict": True}}})
                if st != 200:
                    return "chat %d: status %d %s" % (i, st, b[:200])
                text = json.loads(b)["choices"][0]["message"]["content"]
            elif kind == 1:
                st, b = post(srv.port, "/api/chat", {"model": model, "messages": msgs, "stream": False,
                                                     "format": schema,
                                                     "options": {"seed": i, "num_predict": 200, "temperature": 1.0}})
                if st != 200:
                    return "ollama %d: status %d %s" % (i, st, b[:200])
                text = json.loads(b)["message"]["content"]
            else:
                st, b = post(srv.port, "/v1/chat/completions", {
                    "model": model, "messages": msgs, "max_tokens": 200, "seed": i, "temperature": 1.0,
                    "stream": True,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}})
                if st != 200:
                    return "stream %d: status %d %s" % (i, st, b[:200])
                text = "".join(e["choices"][0]["delta"].get("content") or "" for e in sse(b) if e.get("choices"))
            try:
                v = json.loads(text)
            except ValueError as e:
                return "request %d (%s, schema %d): not JSON (%s): %r" % (i, model, i % len(SCHEMAS), e, text[:200])
            errs = list(validator(schema).iter_errors(v))
            if errs:
                return "request %d (%s, schema %d): invalid: %s: %r" % (i, model, i % len(SCHEMAS), errs[0].message,
                                                                        text[:200])
            return None
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            broken = [r for r in ex.map(one, range(N_SCHEMA_REQUESTS)) if r]
        assert not broken, "%d of %d broken; first: %s" % (len(broken), N_SCHEMA_REQUESTS, broken[0])
    finally:
        srv.stop()


def tiny():
    return os.path.join(GOLDEN, "tiny-llama-F32.gguf")


@case("structured_json_object_and_raw_grammar")
def _():
    srv = Server("-m", tiny(), name="misc")
    try:
        for seed in range(5):
            st, b = post(srv.port, "/v1/chat/completions", {
                "messages": [{"role": "user", "content": "JSON"}], "max_tokens": 64, "seed": seed,
                "response_format": {"type": "json_object"}})
            assert st == 200, b[:300]
            assert isinstance(json.loads(json.loads(b)["choices"][0]["message"]["content"]), dict)
            st, b = post(srv.port, "/v1/completions", {"prompt": "答え:", "max_tokens": 8, "seed": seed,
                                                       "grammar": 'root ::= "はい" | "いいえ"'})
            assert st == 200, b[:300]
            assert json.loads(b)["choices"][0]["text"] in ("はい", "いいえ"), b[:300]
        st, b = post(srv.port, "/api/generate", {"model": "tiny-llama-F32", "prompt": "x", "format": "json",
                                                 "stream": False,
                                                 "options": {"num_predict": 64}})
        assert st == 200 and isinstance(json.loads(json.loads(b)["response"]), dict), b[:300]
    finally:
        srv.stop()


@case("structured_fails_closed")
def _():
    srv = Server("-m", tiny(), name="closed")
    try:
        schema = {"type": "object", "properties": {"n": {"type": "number", "multipleOf": 3}}, "required": ["n"]}
        body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 40,
                "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}
        st, b = post(srv.port, "/v1/chat/completions", body)
        assert st == 400 and "multipleOf" in b.decode(), (st, b[:300])
        assert json.loads(b)["error"]["param"].startswith("response_format"), b[:300]
        body["response_format"]["json_schema"]["strict"] = False
        st, b = post(srv.port, "/v1/chat/completions", body)
        assert st == 200, b[:300]
        r = json.loads(b)
        assert "multipleOf" in r.get("unenforced", ""), r
        json.loads(r["choices"][0]["message"]["content"])
        # hostile: deep nesting and a bad grammar are 400s, quickly
        deep = '{"type": "array", "items": ' * 1500 + '{}' + '}' * 1500
        t0 = time.time()
        st, b = post(srv.port, "/v1/chat/completions", ('{"messages": [{"role": "user", "content": "x"}], '
                                                        '"response_format": {"type": "json_schema", "json_schema": '
                                                        '{"name": "d", "schema": %s}}}' % deep).encode())
        assert st == 400 and time.time() - t0 < 5, (st, b[:200])
        st, b = post(srv.port, "/v1/completions", {"prompt": "x", "grammar": "root ::= undefined-rule"})
        assert st == 400 and b"undefined-rule" in b, (st, b[:300])
        st, b = post(srv.port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "x"}], "max_tokens": 2,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMAS[1]}}})
        assert st == 400 and b"max_tokens" in b, (st, b[:300])
    finally:
        srv.stop()


# ---- tools ----------------------------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "都市の天気を調べる",
        "parameters": {"type": "object", "properties": {
            "city": {"enum": ["東京", "大阪", "札幌"], "description": "都市"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7, "description": "日数"},
            "unit": {"enum": ["celsius", "fahrenheit"], "description": "単位"}},
            "required": ["city", "days"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "create_task", "description": "タスクを登録する",
        "parameters": {"type": "object", "properties": {
            "title": {"type": "string", "maxLength": 30, "description": "件名"},
            # not ["string", "null"]: Hermes' template recurses forever on type lists (in jinja2 too)
            "due_date": {"type": "string", "format": "date", "description": "期限"},
            "priority": {"enum": ["高", "中", "低"], "description": "優先度"}},
            "required": ["title", "due_date", "priority"], "additionalProperties": False}}},
]
FAMILIES = ["meta-llama-Llama-3.1-8B-Instruct", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
            "Qwen-Qwen2.5-7B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407", "meetkai-functionary-medium-v3.2",
            "meetkai-functionary-medium-v3.1", "CohereForAI-c4ai-command-r-plus-tool_use",
            "CohereForAI-c4ai-command-r7b-12-2024-tool_use", "fireworks-ai-llama-3-firefunction-v2",
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", None]  # None: the model's own (ChatML, generic format)


def check_calls(calls, only=None):
    assert calls, "no tool_calls"
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    for c in calls:
        assert c.get("type", "function") == "function", c
        name = c["function"]["name"]
        assert name in schemas and (only is None or name == only), "unexpected function %r" % name
        args = c["function"]["arguments"]
        args = json.loads(args) if isinstance(args, str) else args
        errs = list(validator(schemas[name]).iter_errors(args))
        assert not errs, "%s arguments %r: %s" % (name, args, errs[0].message)


@case("tools_forced_%d_calls_across_families" % (CALLS_PER_FAMILY * len(FAMILIES)))
def _():
    failures_here = []
    n = 0
    for fam in FAMILIES:
        args = ["-m", tiny(), "--parallel", "4", "--ctx", "16384", "-t", "2"]  # tool prompts are long in a 512-token vocabulary
        if fam:
            args += ["--chat-template-file", os.path.join(TEMPLATES, fam + ".jinja")]
        srv = Server(*args, name="tools-%s" % (fam or "generic"))
        try:
            def one(i):
                only = "create_task" if i % 4 == 3 else None
                choice = {"type": "function", "function": {"name": only}} if only else "required"
                body = {"messages": [{"role": "system", "content": "あなたは秘書です。"},
                                     {"role": "user", "content": "明日の東京の天気を調べて、タスクも登録して。"}],
                        "tools": TOOLS, "tool_choice": choice, "max_tokens": 220, "seed": i, "temperature": 1.0,
                        "stream": i % 2 == 1}
                st, b = post(srv.port, "/v1/chat/completions", body)
                if st != 200:
                    return "%s %d: status %d %s" % (fam, i, st, b[:300])
                try:
                    if i % 2:
                        events = sse(b)
                        calls = {}
                        finish = None
                        for e in events:
                            for ch in e.get("choices", []):
                                finish = ch.get("finish_reason") or finish
                                for d in ch["delta"].get("tool_calls", []):
                                    c = calls.setdefault(d["index"], {"type": "function",
                                                                      "function": {"name": "", "arguments": ""}})
                                    if "id" in d:
                                        c["id"] = d["id"]
                                    f = d.get("function", {})
                                    c["function"]["name"] += f.get("name", "")
                                    c["function"]["arguments"] += f.get("arguments", "")
                        assert finish == "tool_calls", "finish %r" % finish
                        assert all(c.get("id") for c in calls.values()), calls
                        check_calls([calls[k] for k in sorted(calls)], only)
                    else:
                        r = json.loads(b)["choices"][0]
                        assert r["finish_reason"] == "tool_calls", r
                        assert all(c["id"].startswith("call_") for c in r["message"]["tool_calls"]), r
                        check_calls(r["message"]["tool_calls"], only)
                except AssertionError as e:
                    return "%s %d: %s: %r" % (fam, i, e, b[:300])
                return None
            # one request alone first: its prompt (system, tools) is then cached for the others
            failures_here += [r for r in [one(n)] if r]
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                failures_here += [r for r in ex.map(one, range(n + 1, n + CALLS_PER_FAMILY)) if r]
            n += CALLS_PER_FAMILY
            # the conversation goes on: the call and its result go back through the template
            st, b = post(srv.port, "/v1/chat/completions", {
                "messages": [{"role": "user", "content": "東京の天気は？"},
                             {"role": "assistant", "content": None, "tool_calls": [
                                 {"id": "call_1", "type": "function",
                                  "function": {"name": "get_weather", "arguments": "{\"city\":\"東京\",\"days\":1}"}}]},
                             {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
                              "content": "{\"天気\":\"晴れ\"}"}],
                "tools": TOOLS, "max_tokens": 8})
            if st != 200:
                failures_here.append("%s: round trip: status %d %s" % (fam, st, b[:300]))
        finally:
            srv.stop()
    assert not failures_here, "%d of %d broken; first: %s" % (len(failures_here), n, failures_here[0])


@case("tools_ollama_shape")
def _():
    srv = Server("-m", tiny(), "--chat-template-file", os.path.join(TEMPLATES, "Qwen-Qwen2.5-7B-Instruct.jinja"),
                 name="tools-ollama")
    try:
        for stream in (False, True):
            st, b = post(srv.port, "/api/chat", {
                "model": "tiny-llama-F32", "stream": stream, "tools": TOOLS, "tool_choice": "required",
                "messages": [{"role": "user", "content": "天気"}], "options": {"num_predict": 200, "seed": 3}})
            assert st == 200, b[:300]
            lines = [json.loads(x) for x in b.decode().splitlines() if x.strip()]
            calls = [c for ln in lines for c in ln.get("message", {}).get("tool_calls", [])]
            assert lines[-1]["done"] is True, lines[-1]
            check_calls(calls)
            assert all(isinstance(c["function"]["arguments"], dict) for c in calls), calls
        st, b = post(srv.port, "/api/chat", {"model": "tiny-llama-F32", "stream": False, "tools": [{"type": "x"}],
                                             "messages": [{"role": "user", "content": "x"}]})
        assert st == 400 and b"tools" in b, b[:300]
    finally:
        srv.stop()


sys.exit(1 if cases.failures else 0)
