/* Tool calls in the formats model families are trained on: which format a
 * chat template speaks, parsing a reply into content + calls, and the
 * grammar that forces a reply to be calls (tool_choice "required" or a named
 * function) whose arguments validate against each function's parameters.
 *
 *   format       what the model writes (after the generation prompt)
 *   llama3       {"name": "f", "parameters": {...}}  or  <|python_tag|>f.call(k="v")
 *   hermes       <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>   (Hermes 2/3, Qwen2.5)
 *   mistral      [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "a1b2c3d4e"}]
 *   functionary3 f\n{...}>>>g\n{...}  (v3.2: the prompt ends with ">>>"; "all\n" is text)
 *   functionary31 <function=f>{...}</function>
 *   command-r    Action: ```json\n[{"tool_name": "f", "parameters": {...}}]\n```
 *   command-r7b  <|START_ACTION|>[{"tool_call_id": "0", "tool_name": "f", "parameters": {...}}]<|END_ACTION|>
 *   firefunction  functools[{"name": "f", "arguments": {...}}]
 *   deepseek-r1  <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{...}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
 *   generic      {"tool_calls": [{"name": "f", "arguments": {...}}]}  (templates without tool support:
 *                the tools and this format are described in a system message)
 * Arguments are returned as JSON text (OpenAI's "arguments" string). */
#ifndef LAIR_SERVER_TOOLCALL_H
#define LAIR_SERVER_TOOLCALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lair.h"

typedef enum tc_format {
    TC_GENERIC,
    TC_LLAMA3,
    TC_HERMES,
    TC_MISTRAL,
    TC_FUNCTIONARY_V32,
    TC_FUNCTIONARY_V31,
    TC_COMMAND_R,
    TC_COMMAND_R7B,
    TC_FIREFUNCTION,
    TC_DEEPSEEK_R1,
} tc_format;

/* The format a template's source speaks (TC_GENERIC when none is known). */
tc_format tc_detect(const char *template_src);
const char *tc_format_name(tc_format f);
/* The template renders the `tools` variable (else tools go in a system message). */
bool tc_template_takes_tools(const char *template_src);

typedef struct tc_call {
    char *name;
    char *arguments; /* compact JSON text of an object */
} tc_call;

typedef struct tc_parsed {
    char *content;   /* the reply without the calls (NUL-terminated) */
    size_t content_len;
    tc_call *calls;
    int n_calls;
} tc_parsed;

/* Splits a complete reply.  A reply whose call syntax is broken stays
 * content (no calls).  LAIR_ERR_NOMEM only. */
lair_status tc_parse(tc_format f, const char *text, size_t len, tc_parsed *out, lair_err *err);
void tc_parsed_free(tc_parsed *p);

/* Streaming: how many leading bytes of a partial reply are certainly
 * content (no call can start inside them); the rest is held back until the
 * reply is complete. */
size_t tc_content_prefix(tc_format f, const char *text, size_t len);

/* Checks an OpenAI tools array ([{type: "function", function: {name,
 * description?, parameters?}}]); names must be [A-Za-z0-9_-]{1,64}.  On
 * failure fills msg (for a 400 naming "tools"). */
bool tc_tools_valid(const json_t *tools, char *msg, size_t cap);

/* A GBNF grammar (src/grammar/grammar.h; root "root") whose sentences are
 * one call (or 1..max_calls when max_calls > 1) of the named function (NULL:
 * any of tools) in format f, with arguments valid against its parameters
 * schema (src/grammar/schema.h, strict).  *gbnf is lair_malloc'd. */
lair_status tc_grammar(tc_format f, const json_t *tools, const char *only, int max_calls, char **gbnf, lair_err *err);

/* The system message that describes tools for a template without tool
 * support, asking for format f's syntax (lair_malloc'd). */
char *tc_system_prompt(tc_format f, const json_t *tools);

/* Messages for a template of format f: the "arguments" of assistant
 * tool_calls become what that family's templates expect — an object where
 * they apply tojson or index into it (llama3, hermes, mistral, command-r*,
 * generic), the JSON text where they concatenate strings (functionary,
 * firefunction, deepseek-r1).  Returns a new reference (NULL: out of memory). */
json_t *tc_messages_for_template(const json_t *messages, tc_format f);

#endif
