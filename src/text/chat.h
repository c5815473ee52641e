/* Chat prompts: a conversation (OpenAI-style messages) rendered through a
 * model's template and tokenized so that the template's own control tokens
 * are parsed while the messages' contents stay plain text.  Used by
 * `lair chat` and the server. */
#ifndef LAIR_TEXT_CHAT_H
#define LAIR_TEXT_CHAT_H

#include <jansson.h>

#include "lair.h"
#include "text/jinja.h"

/* The model's template (tokenizer.chat_template), or ChatML when it has none
 * (*fallback is then set: callers warn).  *out is parsed. */
lair_status lair_chat_template_load(const lair_model *m, lair_jinja **out, bool *fallback, lair_err *err);

/* Renders `messages` (array) with the template's usual variables: messages,
 * add_generation_prompt, bos_token and eos_token (the vocabulary's texts),
 * plus those of `extra` (an object, may be NULL: "tools", or what a
 * family's template wants besides, e.g. firefunction's "functions").
 * *text is lair_malloc'd. */
lair_status lair_chat_render(const lair_jinja *t, const lair_vocab *v, const json_t *messages, const json_t *extra,
                             bool add_generation_prompt, char **text, size_t *len, lair_err *err);

/* Tokenizes a rendered prompt: control-token text is parsed except inside
 * the messages' contents, which are found in order (verbatim, or trimmed as
 * templates often do).  A content the template changed beyond recognition is
 * refused (LAIR_ERR_ARG) when it spells a control token, since it could not
 * be kept plain.  BOS is added when the vocabulary asks for it, unless the
 * template wrote it already. */
lair_status lair_chat_tokenize(const lair_vocab *v, const char *text, size_t len, const json_t *messages,
                               lair_tokens *out, lair_err *err);

#endif
