/* Chat templates: a Jinja2-compatible template engine with the semantics of
 * Python's jinja2 as model hubs apply it (HF transformers):
 * ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
 * extensions=[loopcontrols]), globals raise_exception(msg) and
 * strftime_now(fmt), and a tojson filter that keeps non-ASCII text.
 *
 * HF's "{% generation %}" tag (AssistantTracker) renders its body.
 *
 * A parsed template is read-only: any number of threads may render it at the
 * same time.  Rendering never touches files or the environment; include,
 * import and extends are refused, and so are Python internals: methods that
 * mutate lists and dicts (as jinja2's immutable sandbox does; list.pop is
 * allowed there too) and attributes named with a leading "__".  Hostile
 * templates fail with LAIR_ERR_LIMIT within the limits below (macro depth,
 * evaluation steps, wall-clock time, output and memory size) instead of
 * crashing or hanging; a render needs at most about 350 KB of C stack. */
#ifndef LAIR_TEXT_JINJA_H
#define LAIR_TEXT_JINJA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lair.h"

typedef struct lair_jinja lair_jinja; /* a parsed template */

typedef struct lair_jinja_limits {
    size_t max_output;  /* bytes of rendered text, and of any one string value; memory use is bounded by 16x this */
    int max_depth;      /* nested macro / caller invocations */
    double max_ms;      /* wall-clock milliseconds for one render */
    uint64_t max_steps; /* evaluation steps (nodes evaluated + loop iterations) */
} lair_jinja_limits;

/* 4 MiB output, depth 64, 100 ms, 20 million steps. */
lair_jinja_limits lair_jinja_default_limits(void);

/* Parses `len` bytes of template source (UTF-8, at most 1 MiB: LAIR_ERR_LIMIT
 * beyond).  Syntax errors name the line:
 * "template: line 12: unknown filter 'foo'" (LAIR_ERR_FORMAT); include /
 * import / extends give LAIR_ERR_UNSUPPORTED. */
lair_status lair_jinja_parse(const char *src, size_t len, lair_jinja **out, lair_err *err);

/* Renders with the members of the JSON object `vars` as template variables
 * (messages, tools, add_generation_prompt, bos_token, eos_token, ...); vars
 * may be NULL.  On success *out is a NUL-terminated string of *out_len bytes
 * that the caller frees with lair_free (out_len may be NULL).  lim NULL, or a
 * zero field in it, means the defaults.
 * raise_exception(msg) fails with LAIR_ERR_ARG and the message
 * "template raised: <msg>"; other runtime errors are LAIR_ERR_ARG too
 * ("template: line 3: 'dict object' has no attribute 'x'"), limits are
 * LAIR_ERR_LIMIT, allocation failures LAIR_ERR_NOMEM. */
lair_status lair_jinja_render(const lair_jinja *t, const json_t *vars, const lair_jinja_limits *lim, char **out,
                              size_t *out_len, lair_err *err);

void lair_jinja_free(lair_jinja *t);

/* The template used when a model has none: ChatML
 * ("<|im_start|>role\ncontent<|im_end|>\n" per message, generation prompt
 * "<|im_start|>assistant\n"). */
const char *lair_jinja_chatml_template(void);

#endif
