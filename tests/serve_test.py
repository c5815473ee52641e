#!/usr/bin/env python3
"""End-to-end tests of `lair serve`: real servers on real sockets, real
clients (curl and Python's standard library).  Prints one line per case:
"ok NAME" or "not ok NAME: why".

usage: serve_test.py LAIR_BIN MODEL.gguf TMPDIR
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from casekit import Cases

LAIR, MODEL, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
ROUTES_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "server", "routes.c")
servers = []  # every server started, for the final log check

cases = Cases(400)
case = cases.case


class Server:
    def __init__(self, *args, name="srv", env=None):
        self.log = os.path.join(TMP, name + ".log")
        self.args = [LAIR, "serve", "--port", "0"] + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
                                     env=dict(os.environ, **(env or {})))
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            self.proc.kill()
            raise RuntimeError("server did not start: " + open(self.log).read()[-500:])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        servers.append(self)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def request(port, method, path, body=None, headers=None, host=None, timeout=60):
    """(status, headers dict (lower-case names), body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            c.putheader("Host", host)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            c.putheader("Content-Type", "application/json")
            c.putheader("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders(data)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def post(port, path, body, **kw):
    st, h, b = request(port, "POST", path, body, **kw)
    return st, h, b


def jpost(port, path, body, expect=200, **kw):
    st, h, b = post(port, path, body, **kw)
    assert st == expect, "%s: status %d, expected %d: %s" % (path, st, expect, b[:300])
    return json.loads(b.decode("utf-8"))


def chat(content, **kw):
    d = {"model": "tiny", "messages": [{"role": "user", "content": content}], "temperature": 0}
    d.update(kw)
    return d


def metric(port, name, model="tiny"):
    st, _, b = request(port, "GET", "/metrics")
    assert st == 200
    m = re.search(r'^%s\{model="%s"\} (\S+)$' % (re.escape(name), re.escape(model)), b.decode(), re.M)
    assert m, "metric %s missing" % name
    return float(m.group(1))


def check_openai_error(b, status_param=None):
    e = json.loads(b)["error"]
    assert set(e) >= {"message", "type", "param", "code"}, e
    assert isinstance(e["message"], str) and e["message"], e
    if status_param is not None:
        assert e["param"] == status_param, "param %r, expected %r (%s)" % (e["param"], status_param, e["message"])
    return e


def sse_events(raw):
    """Splits an SSE body into its data payloads, checking the framing."""
    assert raw.endswith(b"\n\n"), "body does not end with a blank line: %r" % raw[-40:]
    events = raw[:-2].split(b"\n\n")
    out = []
    for ev in events:
        if ev.startswith(b":"):
            continue  # keep-alive comment
        assert ev.startswith(b"data: ") and b"\n" not in ev, "bad event framing: %r" % ev[:120]
        out.append(ev[6:].decode("utf-8"))
    return out


# ---------------------------------------------------------------------------------------------
A = Server("-m", "tiny=" + MODEL, "--parallel", "4", "--ctx", "2048", "-t", "1", name="a")
P = A.port


@case("serve_health")
def _():
    out = subprocess.run(["curl", "-s", "-i", "http://127.0.0.1:%d/health" % P], capture_output=True, timeout=10)
    head, body = out.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    assert json.loads(body) == {"status": "ok"}, body


@case("serve_models_list")
def _():
    st, _, b = request(P, "GET", "/v1/models")
    d = json.loads(b)
    assert st == 200 and d["object"] == "list" and [m["id"] for m in d["data"]] == ["tiny"], d
    m = d["data"][0]
    assert m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"], m
    st, _, b = request(P, "GET", "/v1/models/tiny")
    assert st == 200 and json.loads(b)["id"] == "tiny"
    assert request(P, "GET", "/v1/models/nope")[0] == 404
    st, _, b = request(P, "GET", "/api/tags")
    t = json.loads(b)["models"][0]
    assert st == 200 and t["name"] == "tiny" and t["model"] == "tiny", t
    assert re.fullmatch(r"[0-9a-f]{64}", t["digest"]) and t["size"] == os.path.getsize(MODEL), t
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t["modified_at"]), t
    det = t["details"]
    assert det["format"] == "gguf" and det["family"] == "llama" and det["quantization_level"] == "Q8_0", det
    assert det["parameter_size"].endswith(("K", "M", "B")), det


@case("serve_ollama_misc_routes")
def _():
    st, _, b = request(P, "GET", "/api/version")
    assert st == 200 and json.loads(b)["version"], b
    st, _, b = request(P, "GET", "/api/ps")
    ps = json.loads(b)["models"]
    assert st == 200 and ps[0]["name"] == "tiny" and ps[0]["size"] > 0 and "expires_at" in ps[0], ps
    d = jpost(P, "/api/show", {"model": "tiny"})
    assert d["details"]["format"] == "gguf" and d["model_info"]["general.architecture"] == "llama", d.keys()
    assert d["model_info"]["general.parameter_count"] > 0 and "im_start" in d["template"], d["template"][:80]
    assert jpost(P, "/api/show", {"model": "nope"}, expect=404)["error"]
    st, _, b = request(P, "GET", "/")
    assert st == 200 and b"running" in b
    st, h, _ = request(P, "HEAD", "/v1/models")
    assert st == 200, st


@case("serve_chat_nonstream")
def _():
    d = jpost(P, "/v1/chat/completions", chat("Hello there", max_tokens=12, ignore_eos=True))
    assert d["id"].startswith("chatcmpl-") and d["object"] == "chat.completion" and d["model"] == "tiny", d
    assert isinstance(d["created"], int)
    (c,) = d["choices"]
    assert c["index"] == 0 and c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str), c
    assert c["finish_reason"] == "length" and c["logprobs"] is None, c
    u = d["usage"]
    assert u["completion_tokens"] == 12 and u["prompt_tokens"] > 5, u
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    assert u["prompt_tokens_details"]["cached_tokens"] >= 0, u
    # content as text parts, system/assistant/tool roles
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "again"}]},
            {"role": "assistant", "content": "Hello!"}, {"role": "tool", "content": "42", "tool_call_id": "x"},
            {"role": "user", "content": "ok"}]
    d = jpost(P, "/v1/chat/completions", {"model": "tiny", "messages": msgs, "max_tokens": 3, "unknown_field": 1})
    assert d["choices"][0]["finish_reason"] in ("stop", "length"), d


@case("serve_chat_sse_framing")
def _():
    body = json.dumps(chat("Stream me", max_tokens=10, ignore_eos=True, stream=True,
                           stream_options={"include_usage": True}))
    out = subprocess.run(["curl", "-sN", "-i", "http://127.0.0.1:%d/v1/chat/completions" % P,
                          "-H", "Content-Type: application/json", "-d", body], capture_output=True, timeout=30)
    head, raw = out.stdout.split(b"\r\n\r\n", 1)
    assert b"content-type: text/event-stream" in head.lower(), head
    ev = sse_events(raw)
    assert ev[-1] == "[DONE]", ev[-1]
    chunks = [json.loads(e) for e in ev[:-1]]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-"), ids
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "tiny" for c in chunks)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant", chunks[0]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 10, usage
    body_chunks = chunks[:-1]
    assert all(c["usage"] is None for c in body_chunks), "usage must be null before the last chunk"
    fin = [c["choices"][0]["finish_reason"] for c in body_chunks]
    assert fin[-1] == "length" and all(f is None for f in fin[:-1]), fin
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in body_chunks)
    ref = jpost(P, "/v1/chat/completions", chat("Stream me", max_tokens=10, ignore_eos=True))
    assert text == ref["choices"][0]["message"]["content"], "streamed %r != %r" % (text, ref)
    # without include_usage: no usage chunk, no usage field
    st, h, raw = post(P, "/v1/chat/completions", chat("x", max_tokens=2, stream=True))
    ev = sse_events(raw)
    assert st == 200 and ev[-1] == "[DONE]" and all("usage" not in json.loads(e) for e in ev[:-1]), ev


@case("serve_ollama_ndjson")
def _():
    for path, body in (("/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}],
                                      "options": {"num_predict": 8, "temperature": 0, "seed": 3}, "keep_alive": "5m"}),
                       ("/api/generate", {"model": "tiny:latest", "prompt": "Once upon",
                                          "options": {"num_predict": 8, "top_k": 5}})):
        st, h, raw = post(P, path, body)
        assert st == 200 and h["content-type"].startswith("application/x-ndjson"), (st, h)
        assert raw.endswith(b"\n"), raw[-20:]
        lines = raw.decode("utf-8").split("\n")[:-1]
        objs = [json.loads(line) for line in lines]  # one JSON object per line
        assert all(not o["done"] for o in objs[:-1]) and objs[-1]["done"] is True, objs
        f = objs[-1]
        for k in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                  "eval_duration"):
            assert isinstance(f[k], int) and f[k] >= 0, (k, f)
        assert f["done_reason"] in ("stop", "length") and f["eval_count"] <= 8 and f["prompt_eval_count"] > 0, f
        assert f["total_duration"] >= f["eval_duration"], f
        assert all(re.match(r"\d{4}-\d\d-\d\dT", o["created_at"]) for o in objs)
        key = "message" if path == "/api/chat" else "response"
        if key == "message":
            assert all(o["message"]["role"] == "assistant" for o in objs)
        else:
            assert all(isinstance(o["response"], str) for o in objs)
    d = jpost(P, "/api/generate", {"model": "tiny", "prompt": "Hi", "stream": False, "raw": True,
                                   "options": {"num_predict": 4}})
    assert d["done"] is True and isinstance(d["response"], str) and d["eval_count"] <= 4, d
    d = jpost(P, "/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "stream": False,
                               "options": {"num_predict": 4}})
    assert d["done"] and d["message"]["role"] == "assistant", d
    d = jpost(P, "/api/generate", {"model": "tiny"})  # empty prompt: load only
    assert d["done"] and d["done_reason"] == "load", d


@case("serve_completions")
def _():
    d = jpost(P, "/v1/completions", {"model": "tiny", "prompt": "The capital of", "max_tokens": 6,
                                      "temperature": 0, "ignore_eos": True, "logprobs": 2})
    assert d["object"] == "text_completion" and d["id"].startswith("cmpl-"), d
    c = d["choices"][0]
    assert c["finish_reason"] == "length" and d["usage"]["completion_tokens"] == 6, d
    lp = c["logprobs"]
    assert len(lp["tokens"]) == 6 and len(lp["token_logprobs"]) == 6 and len(lp["text_offset"]) == 6, lp
    assert all(x <= 0 for x in lp["token_logprobs"]) and all(len(t) <= 2 for t in lp["top_logprobs"]), lp
    st, _, raw = post(P, "/v1/completions", {"prompt": "abc", "max_tokens": 3, "stream": True})
    ev = sse_events(raw)
    assert st == 200 and ev[-1] == "[DONE]", ev
    assert json.loads(ev[-2])["choices"][0]["finish_reason"] in ("stop", "length")
    d = jpost(P, "/v1/completions", {"prompt": [1, 100, 200], "max_tokens": 2})  # token ids
    assert d["usage"]["prompt_tokens"] == 3, d


@case("serve_chat_logprobs")
def _():
    d = jpost(P, "/v1/chat/completions", chat("Hi", max_tokens=5, ignore_eos=True, logprobs=True, top_logprobs=3))
    content = d["choices"][0]["logprobs"]["content"]
    assert len(content) == 5, content
    for t in content:
        assert isinstance(t["token"], str) and t["logprob"] <= 0 and isinstance(t["bytes"], list), t
        assert len(t["top_logprobs"]) == 3 and t["top_logprobs"][0]["logprob"] >= t["top_logprobs"][2]["logprob"], t
    # greedy: the sampled token is the most probable one
    assert all(abs(t["logprob"] - t["top_logprobs"][0]["logprob"]) < 1e-4 for t in content), content


@case("serve_determinism_concurrent")
def _():
    req = chat("Tell me a story about the sea", max_tokens=32, ignore_eos=True)
    alone = jpost(P, "/v1/chat/completions", req)["choices"][0]["message"]["content"]
    seeded = chat("Seeded", max_tokens=24, ignore_eos=True, temperature=0.9, seed=1234)
    seeded_alone = jpost(P, "/v1/chat/completions", seeded)["choices"][0]["message"]["content"]
    results = {}

    def worker(i):
        if i == 0:
            results[i] = jpost(P, "/v1/chat/completions", req)["choices"][0]["message"]["content"]
        elif i == 1:
            results[i] = jpost(P, "/v1/chat/completions", seeded)["choices"][0]["message"]["content"]
        else:
            other = chat("Other prompt number %d %s" % (i, "x" * (i * 20)), max_tokens=40, ignore_eos=True,
                         temperature=0.7, stream=(i % 2 == 0))
            results[i] = post(P, "/v1/chat/completions", other)[0]

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert results.get(0) == alone, "greedy text changed under load: %r vs %r" % (results.get(0), alone)
    assert results.get(1) == seeded_alone, "seeded text changed under load"
    assert all(results.get(i) == 200 for i in range(2, 8)), results


@case("serve_error_shapes")
def _():
    cases = [
        (b'{"messages": [', None, "invalid JSON"),
        (b'[]', None, "JSON object"),
        (b'', None, "empty"),
        (b'{"messages": "hi"}', "messages", None),
        (json.dumps(chat("x", temperature="hot")).encode(), "temperature", None),
        (json.dumps(chat("x", temperature=-1)).encode(), "temperature", None),
        (json.dumps(chat("x", temperature=1e308)).encode(), "temperature", None),
        (b'{"model":"tiny","messages":[{"role":"user","content":"x"}],"temperature":1e999}', None, None),
        (json.dumps(chat("x", top_p=1.5)).encode(), "top_p", None),
        (json.dumps(chat("x", presence_penalty=-3)).encode(), "presence_penalty", None),
        (json.dumps(chat("x", n=2)).encode(), "n", None),
        (json.dumps(chat("x", max_tokens=0)).encode(), "max_tokens", None),
        (json.dumps(chat("x", max_tokens=-5)).encode(), "max_tokens", None),
        (json.dumps(chat("x", max_tokens="10")).encode(), "max_tokens", None),
        (json.dumps(chat("x", logit_bias={"99999": 5})).encode(), "logit_bias", None),
        (json.dumps(chat("x", logit_bias={"-1": 5})).encode(), "logit_bias", None),
        (json.dumps(chat("x", logit_bias={"12": 500})).encode(), "logit_bias", None),
        (json.dumps(chat("x", logprobs=True, top_logprobs=21)).encode(), "top_logprobs", None),
        (json.dumps(chat("x", stop=[1, 2])).encode(), "stop", None),
        (json.dumps(chat("x", stream="yes")).encode(), "stream", None),
        (json.dumps(chat("x", seed=1.5)).encode(), "seed", None),
        (json.dumps(chat("x", response_format={"type": "xml"})).encode(), "response_format", None),
        (json.dumps(chat("x", response_format={"type": "json_schema"})).encode(), "response_format", None),
        (json.dumps(chat("x", tools=[{"type": "function", "function": {"name": "bad name!"}}])).encode(), "tools",
         None),
        (json.dumps(chat("x", tools=[{"type": "function", "function": {"name": "f"}}],
                         tool_choice={"type": "function", "function": {"name": "g"}})).encode(), "tool_choice", None),
        (json.dumps(chat("x", grammar="root ::= nothing")).encode(), "grammar", None),
        (json.dumps({"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}).encode(), "messages", None),
        (json.dumps({"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).encode(),
         "messages", None),
        (json.dumps({"model": 5, "messages": [{"role": "user", "content": "x"}]}).encode(), "model", None),
        (b'{"messages":[{"role":"user","content":"\xff\xfe"}]}', None, None),  # invalid UTF-8
        (b'{"model":"tiny","messages":[{"role":"user","content":"a\\u0000b"}]}', None, None),  # NUL
    ]
    for body, param, words in cases:
        st, h, b = post(P, "/v1/chat/completions", body)
        assert st == 400, "%r: status %d %s" % (body[:80], st, b[:200])
        assert h["content-type"].startswith("application/json"), h
        e = check_openai_error(b, param)
        assert e["type"] == "invalid_request_error", e
        if words:
            assert words in e["message"], e
    st, _, b = post(P, "/v1/chat/completions", chat("x", model="nope"))
    assert st == 404 and check_openai_error(b)["code"] == "model_not_found", b
    # Ollama routes answer in Ollama's shape
    for body in ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": "x"}},
                 {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"top_p": -0.5}},
                 {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "format": "yaml"},
                 {"model": "tiny", "prompt": 5},
                 {"messages": []}):
        path = "/api/generate" if "prompt" in body else "/api/chat"
        st, _, b = post(P, path, body)
        d = json.loads(b)
        assert st == 400 and isinstance(d["error"], str) and d["error"], (body, st, b)
    st, _, b = post(P, "/api/chat", {"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert st == 404 and "not found" in json.loads(b)["error"], b
    # the server is still fine
    assert request(P, "GET", "/health")[0] == 200


@case("serve_routes_404_405")
def _():
    st, _, b = request(P, "GET", "/v2/nothing")
    assert st == 404 and check_openai_error(b)["code"] == "not_found", b
    st, _, b = request(P, "GET", "/api/nothing")
    assert st == 404 and isinstance(json.loads(b)["error"], str), b
    st, h, b = request(P, "GET", "/v1/chat/completions")
    assert st == 405 and h.get("allow") == "POST", (st, h)
    check_openai_error(b)
    st, h, b = request(P, "DELETE", "/api/tags")
    assert st == 405 and h.get("allow") == "GET" and isinstance(json.loads(b)["error"], str), (st, h, b)


@case("serve_limits_body_depth_headers")
def _():
    # declared too large: refused before the body is read
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Content-Length: 5000000\r\n\r\n")
    resp = s.recv(4096)
    s.close()
    assert resp.startswith(b"HTTP/1.1 413"), resp[:100]
    assert b"request_too_large" in resp, resp
    # curl with a 5 MB body (Expect: 100-continue)
    big = os.path.join(TMP, "big.json")
    with open(big, "wb") as f:
        f.write(b'{"pad":"' + b"x" * (5 << 20) + b'"}')
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + big,
                          "http://127.0.0.1:%d/v1/chat/completions" % P], capture_output=True, timeout=30)
    assert out.stdout == b"413", out.stdout
    # chunked, no length: counted as it arrives
    s = socket.create_connection(("127.0.0.1", P), timeout=20)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    try:
        for _ in range(80):  # 5 MiB
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    resp = s.recv(4096)
    s.close()
    assert resp.startswith(b"HTTP/1.1 413"), resp[:100]
    # deep JSON: refused by the pre-scan, both just over the limit and absurdly deep
    for depth in (65, 100000):
        body = b'{"messages":' + b"[" * depth + b"]" * depth + b"}"
        st, _, b = post(P, "/v1/chat/completions", body)
        assert st == 400 and "nested deeper" in check_openai_error(b)["message"], (depth, st, b[:200])
    body = b'{"model":"tiny","max_tokens":1,"messages":[{"role":"user","content":"x"}],"x":' + b"[" * 60 + b"]" * 60 + b"}"
    assert post(P, "/v1/chat/completions", body)[0] == 200
    # a huge header, and a great many small ones: 431 either way
    for hdrs in (b"X-Big: " + b"y" * 100000 + b"\r\n", b"".join(b"X-%d: a\r\n" % i for i in range(5000))):
        s = socket.create_connection(("127.0.0.1", P), timeout=10)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n" + hdrs + b"\r\n")
        except OSError:
            pass
        resp = s.recv(200)
        s.close()
        assert resp.startswith(b"HTTP/1.1 431"), resp[:80]
    assert request(P, "GET", "/health")[0] == 200


@case("serve_prompt_too_long")
def _():
    long_text = " ".join("word%d" % i for i in range(3000))
    st, _, b = post(P, "/v1/chat/completions", chat(long_text, max_tokens=4))
    assert st == 400, (st, b[:200])
    e = check_openai_error(b)
    msg = e["message"]
    nums = [int(x) for x in re.findall(r"\d+", msg)]
    assert "2048" in msg and any(n > 2048 for n in nums), msg
    st, _, b = post(P, "/api/generate", {"model": "tiny", "prompt": long_text, "stream": False})
    assert st == 400 and "2048" in json.loads(b)["error"], b[:200]


@case("serve_max_tokens_clamped")
def _():
    d = jpost(P, "/v1/chat/completions", chat("clamp", max_tokens=10 ** 9, ignore_eos=True), timeout=120)
    u = d["usage"]
    assert d["choices"][0]["finish_reason"] == "length", d["choices"][0]["finish_reason"]
    assert 0 < u["prompt_tokens"] + u["completion_tokens"] <= 2048, u


@case("serve_host_header")
def _():
    for host, want in (("localhost", 200), ("localhost:%d" % P, 200), ("127.0.0.1:%d" % P, 200),
                       ("[::1]:%d" % P, 200), ("LOCALHOST", 200), ("evil.example", 403),
                       ("evil.example:%d" % P, 403), ("localhost.evil.example", 403), ("127.0.0.1.nip.io", 403),
                       ("localhost:80x", 403)):
        st, _, b = request(P, "GET", "/v1/models", host=host)
        assert st == want, "Host %s: %d, expected %d" % (host, st, want)
        if want == 403:
            check_openai_error(b)


@case("serve_cors_off_by_default")
def _():
    st, h, _ = request(P, "GET", "/v1/models", headers={"Origin": "http://evil.example"})
    assert st == 200 and not any(k.startswith("access-control-") for k in h), h
    st, h, _ = request(P, "OPTIONS", "/v1/chat/completions",
                       headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert not any(k.startswith("access-control-") for k in h), h


@case("serve_metrics_format")
def _():
    st, h, b = request(P, "GET", "/metrics")
    text = b.decode()
    assert st == 200 and h["content-type"].startswith("text/plain"), h
    for line in text.splitlines():
        assert re.fullmatch(r'# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+0-9.eE]+(Inf)?', line), line
    for name in ("lair_requests_total", "lair_prompt_tokens_total", "lair_completion_tokens_total",
                 "lair_tokens_per_second", "lair_queue_depth", "lair_slots_busy", "lair_kv_blocks_used",
                 "lair_kv_blocks_free", "lair_prefix_cache_hit_ratio"):
        assert re.search(r'^%s\{model="tiny"\} ' % name, text, re.M), name
    assert metric(P, "lair_requests_total") > 0 and metric(P, "lair_completion_tokens_total") > 0
    buckets = re.findall(r'^lair_time_to_first_token_seconds_bucket\{model="tiny",le="([^"]+)"\} (\S+)$', text, re.M)
    assert buckets and buckets[-1][0] == "+Inf", buckets
    counts = [float(c) for _, c in buckets]
    assert counts == sorted(counts), "buckets not cumulative"
    assert float(re.search(r'^lair_time_to_first_token_seconds_count\{model="tiny"\} (\S+)', text, re.M).group(1)) \
        == counts[-1]
    assert re.search(r'^lair_time_to_first_token_seconds_sum\{model="tiny"\} ', text, re.M)


def wait_idle(port, seconds):
    t0 = time.time()
    while time.time() - t0 < seconds:
        if metric(port, "lair_slots_busy") == 0 and metric(port, "lair_queue_depth") == 0:
            return time.time() - t0
        time.sleep(0.05)
    return None


@case("serve_disconnect_frees_slot")
def _():
    assert wait_idle(P, 5) is not None, "slots busy before the test"
    body = json.dumps(chat("never ending", max_tokens=100000, ignore_eos=True, stream=True)).encode()
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    got = b""
    while got.count(b"data: ") < 3:
        got += s.recv(4096)
    assert metric(P, "lair_slots_busy") >= 1, "stream not running"
    s.close()
    took = wait_idle(P, 2.0)
    assert took is not None, "slot still busy 2 s after the client left"
    # non-streaming: the handler notices too
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    body = json.dumps(chat("never ending", max_tokens=100000, ignore_eos=True)).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    time.sleep(0.3)
    s.close()
    assert wait_idle(P, 2.0) is not None, "non-streaming request kept its slot after the client left"


@case("serve_prefix_reuse")
def _():
    prefix = "You are a helpful assistant. " + " ".join(uuid.uuid4().hex[:6] for _ in range(90))

    def ask(q):
        t0 = time.time()
        d = jpost(P, "/v1/chat/completions", {"model": "tiny", "max_tokens": 1, "messages": [
            {"role": "system", "content": prefix}, {"role": "user", "content": q}]})
        return d, time.time() - t0

    (first, c1), (second, c2) = ask("first question"), ask("second question")
    assert c2 < c1, "a request sharing a cached prefix took %.1f ms, the cold one %.1f ms" % (c2 * 1e3, c1 * 1e3)
    u1, u2 = first["usage"], second["usage"]
    assert u1["prompt_tokens"] > 600, u1
    assert u2["prompt_tokens_details"]["cached_tokens"] > u1["prompt_tokens_details"]["cached_tokens"], (u1, u2)
    assert u2["prompt_tokens_details"]["cached_tokens"] >= u2["prompt_tokens"] // 2, u2
    t1, t2 = first["timings"]["ttft_ms"], second["timings"]["ttft_ms"]
    assert t2 < t1, "time to first token with a cached prefix %.1f ms, cold %.1f ms" % (t2, t1)
    assert metric(P, "lair_prefix_cache_hit_ratio") > 0


@case("serve_japanese_roundtrip")
def _():
    jp = "日本語で答えてください。東京の天気は？"
    for path, body in (("/v1/chat/completions", chat(jp, max_tokens=16, logprobs=True, top_logprobs=2,
                                                        stop=["。"])),
                       ("/api/chat", {"model": "tiny", "stream": False,
                                      "messages": [{"role": "user", "content": jp}], "options": {"num_predict": 16}}),
                       ("/v1/completions", {"prompt": jp, "max_tokens": 16})):
        st, h, raw = post(P, path, body)
        assert st == 200, (path, st, raw[:200])
        raw.decode("utf-8", errors="strict")  # valid UTF-8
        json.loads(raw)
    st, _, raw = post(P, "/v1/chat/completions", chat("x", model="存在しないモデル"))
    assert st == 404 and "存在しないモデル".encode() in raw, raw  # echoed as UTF-8, not \u escapes


@case("serve_soak_no_leak")
def _():
    def one(i):
        k = i % 4
        if k == 0:
            r = post(P, "/v1/chat/completions", chat("soak %d" % i, max_tokens=8, temperature=0.8))
        elif k == 1:
            r = post(P, "/v1/chat/completions", chat("soak %d" % i, max_tokens=8, stream=True))
        elif k == 2:
            r = post(P, "/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "s%d" % i}],
                                      "options": {"num_predict": 8}})
        else:
            r = post(P, "/v1/chat/completions", b'{"bad json')
        return r[0] if r[0] in (200, 400) else (r[0], r[2][:200])

    def batch(n):
        codes = []
        lock = threading.Lock()
        idx = iter(range(n))

        def worker():
            while True:
                with lock:
                    i = next(idx, None)
                if i is None:
                    return
                c = one(i)
                with lock:
                    codes.append((i, c))
        ts = [threading.Thread(target=worker) for _ in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        return codes

    batch(48)  # warm-up: threads, caches, allocator arenas
    rss0 = A.rss_kib()
    codes = batch(160)
    rss1 = A.rss_kib()
    assert len(codes) == 160, len(codes)
    bad = [(i, c) for i, c in codes if c != (400 if i % 4 == 3 else 200)]
    assert not bad, bad[:5]
    growth = rss1 - rss0
    # 16 MiB; sanitizers keep freed memory in quarantine, so they get more room
    with open(LAIR, "rb") as f:
        sanitized = any(s in f.read() for s in (b"__asan_init", b"__tsan_init"))
    limit = (128 if sanitized else 16) * 1024
    assert growth < limit, "RSS grew %d KiB over 160 requests (%d -> %d)" % (growth, rss0, rss1)
    print("# soak: 160 requests from 16 clients, RSS %d -> %d KiB" % (rss0, rss1), flush=True)
    assert request(P, "GET", "/health")[0] == 200


@case("serve_shutdown_with_stream")
def _():
    body = json.dumps(chat("long", max_tokens=100000, ignore_eos=True, stream=True)).encode()
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    s.recv(4096)
    t0 = time.time()
    rc = A.stop(10)
    s.close()
    assert rc == 0, "exit status %r" % rc
    assert time.time() - t0 < 5, "shutdown took %.1f s" % (time.time() - t0)
    assert "shutting down" in open(A.log).read()


A.stop()

# ---- a server with an API key and CORS ------------------------------------------------------
KEY = "sk-test-" + uuid.uuid4().hex
keyfile = os.path.join(TMP, "key")
with open(keyfile, "w") as f:
    f.write(KEY + "\n")
B = Server("-m", "tiny=" + MODEL, "--ctx", "1024", "--parallel", "2", "-t", "1", "--api-key-file", keyfile,
           "--cors-origin", "http://ok.example", "--cors-origin", "http://also.example", name="b")


def routes():
    src = open(ROUTES_C).read()
    rs = re.findall(r'ROUTE\("(\w+)", "([^"]*)", (true|false), (true|false)', src)
    assert len(rs) >= 12, rs
    return [(m, p + ("tiny" if pre == "true" else ""), pub == "true") for m, p, pre, pub in rs]


BODIES = {"/v1/chat/completions": chat("hi", max_tokens=2), "/v1/completions": {"prompt": "hi", "max_tokens": 2},
          "/api/chat": {"model": "tiny", "stream": False, "messages": [{"role": "user", "content": "hi"}],
                        "options": {"num_predict": 2}},
          "/api/generate": {"model": "tiny", "prompt": "hi", "stream": False, "options": {"num_predict": 2}},
          "/api/show": {"model": "tiny"}}


@case("serve_auth_every_route")
def _():
    walked = 0
    for method, path, public in routes():
        body = BODIES.get(path, {}) if method == "POST" else None
        for hdr in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + KEY[:-1]},
                    {"Authorization": KEY}, {"Authorization": "Basic " + KEY}):
            st, h, b = request(B.port, method, path, body, headers=hdr)
            if public:
                assert st == 200, (path, st)
            else:
                assert st == 401, "%s %s with %r: %d" % (method, path, hdr, st)
                assert KEY.encode() not in b and h.get("www-authenticate") == "Bearer", (h, b)
                if path.startswith("/api/"):
                    assert isinstance(json.loads(b)["error"], str)
                else:
                    assert check_openai_error(b)["code"] == "invalid_api_key"
        st, _, b = request(B.port, method, path, body, headers={"Authorization": "Bearer " + KEY})
        assert st == 200, "%s %s with the key: %d %s" % (method, path, st, b[:200])
        walked += 1
    assert walked >= 12
    assert request(B.port, "GET", "/nope")[0] == 401  # unknown routes reveal nothing without a key
    assert KEY not in open(B.log).read(), "the key appears in the log"


@case("serve_cors_listed_origin")
def _():
    auth = {"Authorization": "Bearer " + KEY}
    st, h, _ = request(B.port, "GET", "/v1/models", headers=dict(auth, Origin="http://ok.example"))
    assert st == 200 and h.get("access-control-allow-origin") == "http://ok.example", h
    assert "origin" in h.get("vary", "").lower() and "access-control-allow-credentials" not in h, h
    st, h, _ = request(B.port, "GET", "/v1/models", headers=dict(auth, Origin="http://evil.example"))
    assert st == 200 and "access-control-allow-origin" not in h, h
    st, h, _ = request(B.port, "OPTIONS", "/v1/chat/completions",
                       headers={"Origin": "http://also.example", "Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "authorization, content-type"})
    assert st == 204 and h.get("access-control-allow-origin") == "http://also.example", (st, h)
    assert "POST" in h["access-control-allow-methods"] and "authorization" in h["access-control-allow-headers"].lower()
    st, h, _ = request(B.port, "OPTIONS", "/v1/chat/completions",
                       headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert not any(k.startswith("access-control-") for k in h), h
    # errors carry the CORS header too (a browser can read why)
    st, h, _ = request(B.port, "GET", "/v1/models", headers={"Origin": "http://ok.example"})
    assert st == 401 and h.get("access-control-allow-origin") == "http://ok.example", h


B.stop()

# ---- one slot, a queue of one, short timeouts -------------------------------------------------
C = Server("-m", "tiny=" + MODEL, "--parallel", "1", "--queue", "1", "--ctx", "2048", "-t", "1", "--timeout", "2",
           name="c")


@case("serve_queue_full_503")
def _():
    results = []
    lock = threading.Lock()

    def worker():
        try:
            r = post(C.port, "/v1/chat/completions", chat("busy", max_tokens=1500, ignore_eos=True), timeout=300)
        except Exception as e:  # noqa: BLE001 - reported through the status list
            r = (repr(e), {}, b"")
        with lock:
            results.append(r)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
        time.sleep(0.05)
    for t in ts:
        t.join(120)
    codes = [r[0] for r in results]
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    for st, h, b in results:
        if st == 503:
            assert h.get("retry-after", "").isdigit(), h
            assert check_openai_error(b)["type"] == "server_error"
    assert post(C.port, "/v1/chat/completions", chat("after", max_tokens=2))[0] == 200


@case("serve_slow_client_dropped")
def _():
    s = socket.create_connection(("127.0.0.1", C.port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
    t0 = time.time()
    dropped = None
    try:
        for _ in range(40):
            time.sleep(0.25)
            s.sendall(b"X-Slow: 1\r\n")  # one header line every 250 ms: never idle, never done
            s.settimeout(0.01)
            try:
                if s.recv(100) == b"":
                    raise ConnectionResetError("closed")
            except socket.timeout:
                pass
            s.settimeout(10)
    except OSError:
        dropped = time.time() - t0
    s.close()
    assert dropped is not None and dropped < 5, "slow-loris client not dropped (after %r s)" % dropped
    assert request(C.port, "GET", "/health")[0] == 200


C.stop()

# ---- start-up refusals -------------------------------------------------------------------------


@case("serve_non_loopback_needs_key")
def _():
    out = subprocess.run([LAIR, "serve", "-m", MODEL, "--host", "0.0.0.0", "--port", "0"], capture_output=True,
                         timeout=30)
    assert out.returncode == 1 and b"refusing to listen on 0.0.0.0" in out.stderr and b"--api-key" in out.stderr, \
        out.stderr[-300:]
    D = Server("-m", MODEL, "--host", "0.0.0.0", "--insecure-no-auth", "-t", "1", "--ctx", "256", name="d")
    try:
        assert "WARNING" in open(D.log).read()
        # bound to all interfaces: no Host allowlist, no key
        st, _, _ = request(D.port, "GET", "/v1/models", host="my-server.lan")
        assert st == 200, st
    finally:
        assert D.stop() == 0


@case("serve_port_in_use")
def _():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    out = subprocess.run([LAIR, "serve", "-m", MODEL, "--port", str(port)], capture_output=True, timeout=30)
    holder.close()
    assert out.returncode == 1 and b"cannot listen on 127.0.0.1 port %d" % port in out.stderr, out.stderr[-300:]
    out = subprocess.run([LAIR, "serve", "-m", os.path.join(TMP, "missing.gguf")], capture_output=True, timeout=30)
    assert out.returncode == 1 and b"missing.gguf" in out.stderr, out.stderr[-300:]


@case("serve_memory_check")
def _():
    out = subprocess.run([LAIR, "serve", "-m", MODEL, "--port", "0", "--ctx", "2000000000"], capture_output=True,
                         timeout=30)
    err = out.stderr.decode()
    assert out.returncode == 1 and "needs" in err and "weights" in err and "KV" in err and "available" in err, err
    assert "try --ctx 1000000000" in err, err


@case("serve_env_and_help")
def _():
    out = subprocess.run([LAIR, "serve", "--help"], capture_output=True, timeout=10)
    h = out.stdout.decode()
    for env in ("LAIR_HOST", "LAIR_PORT", "LAIR_PARALLEL", "LAIR_CTX", "LAIR_KV_TYPE", "LAIR_API_KEY",
                "LAIR_API_KEY_FILE", "LAIR_CORS_ORIGIN", "LAIR_THREADS", "LAIR_MODELS_DIR", "LAIR_MODEL",
                "LAIR_BATCH", "LAIR_PREFILL_CHUNK"):
        assert env in h, env
    E = Server(name="e", env={"LAIR_MODEL": "日本語=" + MODEL, "LAIR_CTX": "512", "LAIR_THREADS": "1",
                              "LAIR_API_KEY": KEY})
    try:
        auth = {"Authorization": "Bearer " + KEY}
        st, _, b = request(E.port, "GET", "/v1/models", headers=auth)
        assert st == 200 and "日本語".encode() in b, b  # raw UTF-8 in the JSON
        d = jpost(E.port, "/v1/chat/completions", {"model": "日本語", "max_tokens": 2,
                                                   "messages": [{"role": "user", "content": "こんにちは"}]}, headers=auth)
        assert d["model"] == "日本語", d
        assert request(E.port, "GET", "/v1/models")[0] == 401
    finally:
        E.stop()
    out = subprocess.run([LAIR, "serve", "-m", MODEL, "--port", "0"], capture_output=True, timeout=10,
                         env=dict(os.environ, LAIR_PARALLEL="many"))
    assert out.returncode == 1 and b"LAIR_PARALLEL" in out.stderr, out.stderr
    for bad in (["--prefill-chunk", "0"], ["--batch", "-1"]):
        out = subprocess.run([LAIR, "serve", "-m", MODEL, "--port", "0"] + bad, capture_output=True, timeout=10)
        assert out.returncode == 1 and bad[0].encode() + b" must be positive" in out.stderr, out.stderr


@case("serve_models_dir_lazy")
def _():
    d = os.path.join(TMP, "models")
    os.makedirs(d, exist_ok=True)
    for name in ("alpha.gguf", "beta.gguf"):
        dst = os.path.join(d, name)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(MODEL), dst)
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not a model")
    F = Server("--models-dir", d, "-t", "1", "--ctx", "512", name="f")
    try:
        st, _, b = request(F.port, "GET", "/api/tags")
        assert [m["name"] for m in json.loads(b)["models"]] == ["alpha", "beta"], b
        assert json.loads(request(F.port, "GET", "/api/ps")[2])["models"] == [], "loaded before first use"
        d2 = jpost(F.port, "/api/generate", {"model": "beta", "prompt": "hi", "stream": False,
                                             "options": {"num_predict": 2}})
        assert d2["done"] and d2["load_duration"] > 0, d2
        ps = json.loads(request(F.port, "GET", "/api/ps")[2])["models"]
        assert [m["name"] for m in ps] == ["beta"], ps
    finally:
        assert F.stop() == 0


@case("serve_clean_exit_and_logs")
def _():
    for srv in servers:
        rc = srv.stop()
        log = open(srv.log, errors="replace").read()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            assert bad not in log, "%s: %s" % (srv.log, log[log.index(bad) - 200:][:1500])
        assert rc == 0, "%s exited with %r: %s" % (" ".join(srv.args[1:]), rc, log[-300:])


sys.exit(1 if cases.failures else 0)
