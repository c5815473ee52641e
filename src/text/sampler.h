/* Token samplers: logits of one position -> one token id.
 *
 * A sampler turns a row of n_vocab logits into a token by running a chain of
 * stages over a candidate list, then drawing from what is left.  Every step
 * of one call:
 *
 *   1. logit bias: bias[id] is added to the logit of id (always first, like
 *      llama.cpp and OpenAI).  A bias of -inf or <= LAIR_SAMPLER_BIAS_BAN
 *      (-100, OpenAI's "ban") removes the token.  NaN and -inf logits from
 *      the model also remove the token; +inf is clamped to FLT_MAX.
 *   2. the chain, in the configured order (each stage may appear once; a
 *      stage at its neutral value does nothing):
 *        penalties    over the last penalty_last_n accepted tokens, with
 *                     count = occurrences in that window (llama.cpp/OpenAI):
 *                       repeat_penalty r: logit > 0 ? logit / r : logit * r
 *                       frequency f, presence q: logit -= count * f + q
 *        top_k        keeps the k highest logits                (0: off)
 *        typical_p    locally typical sampling: sorts by |-log p - H| (H the
 *                     entropy) and keeps the smallest prefix of mass >= p
 *        top_p        nucleus: the smallest set of most probable tokens whose
 *                     mass is >= p                              (1: off)
 *        min_p        keeps tokens with p >= min_p * p_max      (0: off)
 *        temperature  divides the logits by T for every later stage and the
 *                     final draw (stages before it see T = 1)
 *      Probabilities in a stage are the softmax over the candidates still
 *      left.  Every truncating stage keeps at least one token.
 *   3. a draw from softmax(logits / T) over the survivors with the sampler's
 *      own generator (src/core/rng.h), seeded with `seed`: the same params,
 *      logits and accepted tokens give the same tokens on every platform.
 *
 * temperature <= 0 is greedy decoding whatever the chain: the token with the
 * highest logit after bias and penalties (if the chain has them); ties go to
 * the lowest id; no random number is drawn.
 *
 * Log-probabilities (OpenAI `logprobs`/`top_logprobs`, llama-server `n_probs`)
 * are natural logs of the softmax at T = 1 over the whole vocabulary of the
 * logits after bias and penalties (penalties only if the chain has them) and
 * before any truncation or temperature: they describe the model, not the
 * dice.  Removed (banned) tokens have probability 0 and never appear in top[].
 *
 * Cost: all buffers (n_vocab candidates, token counts) are allocated at
 * creation; sampling allocates nothing.  Nothing sorts the vocabulary:
 * top_k selects the k best (a bounded heap for small k: about one comparison
 * per token; quickselect otherwise) and sorts only those; top_p and
 * typical_p take the 64 best the same way, which is all a peaked
 * distribution needs, and otherwise find the rest of the nucleus by
 * quickselect on probability mass (expected linear).  Bias, penalties,
 * min_p, the draw and log-probabilities are one or two passes each.
 *
 * A sampler is used by one thread at a time. */
#ifndef LAIR_TEXT_SAMPLER_H
#define LAIR_TEXT_SAMPLER_H

#include <stdint.h>

#include "lair.h"

#define LAIR_SAMPLER_BIAS_BAN (-100.0f)   /* a bias at or below this bans the token */
#define LAIR_SAMPLER_MAX_LOGPROBS 20      /* most alternatives reported per token (OpenAI's limit) */
#define LAIR_SAMPLER_MAX_LAST_N (1 << 20) /* largest penalty window, tokens */
#define LAIR_SAMPLER_DEFAULT_CHAIN "penalties;top_k;typical_p;top_p;min_p;temperature"

typedef struct lair_logit_bias {
    int32_t token; /* 0 <= token < n_vocab; repeated tokens add up */
    float bias;    /* finite or -inf; <= LAIR_SAMPLER_BIAS_BAN bans */
} lair_logit_bias;

/* Defaults (lair_sampler_default_params), llama.cpp's:
 *   temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, typical_p 1.0 (off),
 *   repeat_penalty 1.0 (off), frequency/presence 0.0 (off), penalty_last_n 64,
 *   seed 0, chain NULL (LAIR_SAMPLER_DEFAULT_CHAIN), no bias, n_logprobs 0.
 * Valid ranges (anything else, NaN and inf included, is LAIR_ERR_ARG with a
 * message naming the parameter and the value):
 *   temperature        finite (<= 0: greedy)
 *   top_k              >= 0 (0 or >= n_vocab: off)
 *   top_p, min_p,
 *   typical_p          [0, 1]
 *   repeat_penalty     finite, > 0 (1: off)
 *   frequency_penalty,
 *   presence_penalty   finite (0: off; negative values encourage repeats)
 *   penalty_last_n     [0, LAIR_SAMPLER_MAX_LAST_N] (0: penalties off)
 *   n_logprobs         [0, LAIR_SAMPLER_MAX_LOGPROBS]
 *   chain              stage names separated by ';' or ',' (spaces ignored):
 *                      penalties, top_k, typical_p (or typ_p), top_p, min_p,
 *                      temperature (or temp); each at most once; "" is an
 *                      empty chain (bias, then a draw at T = 1).
 * The chain string and bias array are read during create only. */
typedef struct lair_sampler_params {
    float temperature;
    int32_t top_k;
    float top_p, min_p, typical_p;
    float repeat_penalty, frequency_penalty, presence_penalty;
    int32_t penalty_last_n;
    uint64_t seed;
    const char *chain;
    const lair_logit_bias *bias;
    int32_t n_bias;
    int32_t n_logprobs;
} lair_sampler_params;

typedef struct lair_token_logprob {
    int32_t token;
    float logprob; /* natural log, in [-FLT_MAX, 0] */
} lair_token_logprob;

typedef struct lair_token_logprobs {
    int32_t token;  /* the sampled token (-1 if none could be) */
    float logprob;  /* its log-probability */
    int32_t n_top;  /* entries in top[]: n_logprobs, fewer if fewer tokens are allowed */
    lair_token_logprob top[LAIR_SAMPLER_MAX_LOGPROBS]; /* most probable first; ties by lower id */
} lair_token_logprobs;

typedef struct lair_sampler lair_sampler;

lair_sampler_params lair_sampler_default_params(void);

/* Checks p and allocates everything sampling needs for n_vocab tokens: 20
 * bytes per vocabulary entry (24 with a logit bias) plus 4 per token of the
 * penalty window.  Errors: LAIR_ERR_ARG (a parameter, named), LAIR_ERR_NOMEM. */
lair_status lair_sampler_create(const lair_sampler_params *p, int32_t n_vocab, lair_sampler **out, lair_err *err);
void lair_sampler_free(lair_sampler *s);

/* Records a token the sequence now contains (sampled or from the prompt) in
 * the penalty window.  Ids outside [0, n_vocab) are ignored. */
void lair_sampler_accept(lair_sampler *s, int32_t token);

/* Forgets the accepted tokens and reseeds the generator with params.seed:
 * the next samples repeat those of a fresh sampler. */
void lair_sampler_reset(lair_sampler *s);

/* Restricts the following samples to the tokens whose bit is set in allow
 * (bit t & 31 of allow[t >> 5]; a grammar's mask), as if every other token
 * were banned, logprobs included.  The sampler reads allow at each sample
 * until it is set again (NULL: no restriction); the caller owns it. */
void lair_sampler_set_allowed(lair_sampler *s, const uint32_t *allow);

/* Picks the next token from logits[n_vocab].  Fills *lp when lp is non-NULL.
 * Returns -1 when no token is allowed (every logit is -inf/NaN or banned);
 * the caller should end the generation with an error then. */
int32_t lair_sampler_sample(lair_sampler *s, const float *logits, lair_token_logprobs *lp);

#endif
