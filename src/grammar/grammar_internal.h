/* Internals shared by the grammar engine's files:
 *   gbnf_parse.c      GBNF text -> lair_grammar (flat element array)
 *   gbnf_check.c      shortest lengths, never-finishing rules, left recursion
 *   grammar_engine.c  parse states: interned stacks and stack sets, the
 *                     lazily built byte transition table, accepts()
 *   grammar_vocab.c   the token trie of a vocabulary
 *   grammar_match.c   the matcher: masks (cached per state) and accept
 *
 * Compiled grammar: every rule is a list of alternatives; each alternative
 * is a run of elements in g->elems ending with an END element.  A literal
 * is a run of one-character classes; repetitions, optionals and groups are
 * rewritten into generated rules (x* -> R ::= x R | "", tail-recursive so
 * the parse stack does not grow).  Classes are sorted disjoint code point
 * ranges (negation resolved at compile time). */
#ifndef LAIR_GRAMMAR_INTERNAL_H
#define LAIR_GRAMMAR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "grammar/grammar.h"

enum { GE_END = 0, GE_CHAR = 1, GE_REF = 2 };

typedef struct gelem {
    uint8_t type;  /* GE_* */
    int32_t a, b;  /* CHAR: first range in g->ranges, range count; REF: rule id */
} gelem;

typedef struct grange {
    uint32_t lo, hi; /* inclusive code points */
} grange;

typedef struct grule {
    char *name;       /* generated rules: "<parent>-<n>" */
    int32_t alt0;     /* first entry in g->alts */
    int32_t n_alts;
    int32_t min_len;  /* fewest bytes of a sentence of the rule */
} grule;

struct lair_grammar {
    gelem *elems;
    int32_t n_elems;
    grange *ranges;
    int32_t n_ranges;
    int32_t *alts;     /* element index where each alternative starts */
    int32_t n_alts_total;
    grule *rules;
    int32_t n_rules;
    int32_t root;
    int32_t *min_from; /* [n_elems]: fewest bytes from this element to its END */
};

/* Saturating "infinite" byte length. */
#define GRAM_INF (INT32_MAX / 4)

/* Fills rules[].min_len and min_from, then refuses rules that can never
 * finish and left recursion; def_line[r] is rule r's line for messages. */
lair_status gbnf_check(lair_grammar *g, const int32_t *def_line, lair_err *err);

/* Engine limits: a parse state (stack set) holds at most GRAM_MAX_STACKS
 * stacks; the state tables are rebuilt from the current state when they
 * pass the soft sizes and refuse growth past the hard sizes (the
 * transition is then dead and the engine's overflow flag is set). */
#define GRAM_MAX_STACKS 1024
#define GRAM_SOFT_SETS 4096
#define GRAM_HARD_SETS (4 * GRAM_SOFT_SETS)
#define GRAM_SOFT_NODES (1 << 20)
#define GRAM_HARD_NODES (4 * GRAM_SOFT_NODES)
#define GRAM_MAX_WORK (1 << 18) /* closure work items per transition */

#define GS_DEAD (-1)
#define GS_UNIFORM 0xFFFFFFFFu /* gset.acc: the partial character's bits do not matter */
#define GS_UNKNOWN (-2)

/* A stack frame, interned: (pos, parent) identifies it.  The top frame's
 * pos is a CHAR element; a lower frame's pos is the REF element to return
 * after.  Node 0 is the empty bottom. */
typedef struct gnode {
    int32_t pos, parent;
    int32_t min;   /* fewest bytes to empty this stack (top: char included) */
    int32_t chain; /* next node in the same hash bucket */
} gnode;

/* A set of ASCII bytes 0..126; bit 127 stands for DEL and every byte >= 0x80. */
typedef struct gbyteset {
    uint64_t w[2];
} gbyteset;

/* A parse state: a set of stacks (sorted top-node ids), whether the bytes so
 * far form a complete sentence, and a partial UTF-8 character. */
typedef struct gset {
    int32_t first, n;    /* top-node ids in eng->set_nodes */
    uint32_t acc;        /* partial character: bits so far, or GS_UNIFORM */
    uint8_t rem;         /* continuation bytes still expected (0: none) */
    uint8_t nlo, nhi;    /* allowed range of the next continuation byte */
    bool complete;
    int32_t min_bytes;   /* fewest bytes to a complete sentence */
    int32_t chain;       /* hash bucket chain */
    int32_t mask_slot;   /* matcher's cached mask, -1 none */
    struct gchain *run;  /* lazily computed, see gengine_chain */
    bool has_loop;       /* loop is computed */
    gbyteset loop;       /* ASCII bytes b with next(state, b) == state */
    uint32_t hash;
    /* the plain run (gengine_plain_run): plain characters in a row that are
     * all allowed, each through a state that treats them alike */
    bool has_run;
    bool run_dead;       /* it ends where a uniform state refuses them */
    bool run_open;       /* measuring stopped at run_end: the run may go on from there */
    int16_t run_len;     /* 0..GRAM_RUN_MAX, or GRAM_RUN_LOOP: unbounded */
    int32_t run_end;     /* open runs: the state where measuring stopped (its own run: 0, open) */
    int32_t run_mx;      /* largest min_bytes on the run (start included) + 3 for a cut character */
} gset;

#define GRAM_RUN_CAP GRAM_PLAIN_MAX /* steps measured at a time */
#define GRAM_RUN_MAX 30000     /* longer runs count as this long */
#define GRAM_RUN_LOOP 0x7FFF

typedef struct gengine {
    const lair_grammar *g;
    gnode *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *node_buckets; /* power-of-two size */
    uint32_t node_mask;
    gset *sets;
    int32_t n_sets, cap_sets;
    int32_t *set_buckets;
    uint32_t set_mask;
    int32_t *set_nodes; /* concatenated top-node lists */
    int64_t n_set_nodes, cap_set_nodes;
    int32_t *next;      /* [cap_sets][256] transitions: set id, GS_DEAD, GS_UNKNOWN */
    /* scratch for closures */
    int32_t *work;      /* pairs (pos, parent) */
    int32_t *run_buf;   /* [GRAM_RUN_CAP + 2] states of a plain run being measured */
    int32_t cap_work;
    int32_t *out;       /* top nodes of the state being built */
    int32_t cap_out;
    uint32_t *stamp;    /* [cap_nodes] closure visit marks */
    uint32_t cur_stamp;
    bool overflow;      /* a hard limit was reached (states were cut) */
    bool nomem;
    int32_t generation; /* bumped on every rebase (set ids change) */
} gengine;

/* Returns the initial state's id or GS_DEAD (out of memory or limits). */
int32_t gengine_init(gengine *e, const lair_grammar *g);
void gengine_free(gengine *e);
/* Transition of state s by one output byte: a state id or GS_DEAD. */
int32_t gengine_step(gengine *e, int32_t s, uint8_t byte);
static inline int32_t gengine_next(gengine *e, int32_t s, uint8_t byte) {
    int32_t t = e->next[(int64_t)s * 256 + byte];
    return t != GS_UNKNOWN ? t : gengine_step(e, s, byte);
}
/* Uniform runs from a state, for skipping whole trie subtrees.  From
 * c0 = s, step k goes to c_k, the state most ASCII bytes of set[k] lead
 * to from c_(k-1); set[k] holds the bytes that lead there at every step
 * 1..k.  So every piece of length <= k made only of bytes in set[k] is
 * allowed and ends in some c_j; maxmin[k] is the largest min_bytes of
 * c_1..c_k.  A string loop has c_k = s; "x{0,64}" counts down. */
#define GRAM_CHAIN 16
typedef struct gchain {
    gbyteset set[GRAM_CHAIN + 1];
    int32_t maxmin[GRAM_CHAIN + 1];
    int32_t state[GRAM_CHAIN + 1]; /* c_k (c_0 = s); -1 past the run's end */
    bool stable;                   /* c_16 = c_15 with the same set: the run goes on forever */
} gchain;
/* The ASCII bytes on which state s returns to itself (computed once per state). */
gbyteset gengine_loop(gengine *e, int32_t s);
/* The chain of state s (computed once per state); NULL out of memory. */
const gchain *gengine_chain(gengine *e, int32_t s);
/* When the tables passed their soft sizes: rebuilds them holding only state
 * s, whose new id is returned (GS_DEAD on out of memory). */
int32_t gengine_maybe_rebase(gengine *e, int32_t s);

/* Vocabulary: token pieces in a trie laid out in depth-first preorder, so a
 * rejected node's subtree is skipped by jumping to end[i]. */
/* A trie node, 8 bytes: the walk reads these in order. */
typedef struct gtnode {
    uint8_t byte;     /* the byte leading into the node */
    uint8_t has_tok;  /* some token's piece ends here */
    uint16_t depth;   /* 1 for children of the root */
    int32_t end;      /* first node after the node's subtree */
} gtnode;

struct lair_grammar_vocab {
    int32_t n_vocab;
    gtnode *nodes;     /* [n_nodes] */
    gbyteset *sub;     /* [n_nodes] bytes in the node's subtree (itself included) */
    uint8_t *height;   /* [n_nodes] levels in the node's subtree (1: a leaf), at most 255 */
    int32_t *tok0;     /* [n_nodes + 1] tokens ending at i: toks[tok0[i] .. tok0[i+1]) */
    int32_t *toks;
    int32_t n_nodes;
    int32_t max_depth;
    int32_t max_piece;
    char *blob;        /* all pieces */
    int64_t *off;      /* [n_vocab + 1] piece of token t: blob[off[t] .. off[t+1]) */
    int32_t *eog;      /* end-of-generation tokens */
    int32_t n_eog;
    uint8_t *is_eog;   /* [n_vocab] */
    bool all_bytes;    /* every byte of UTF-8 text is a one-byte token */
    /* Plain-text index (grammar_plain.c).  A token is plain when its piece
     * is 1..GRAM_PLAIN_MAX code points of GRAM_PLAIN (JSON string text
     * without escapes), valid UTF-8 except that the last character may be
     * cut short.  From a state that treats every plain character alike, a
     * plain token's fate depends only on its length in code points. */
    uint8_t *pcp;          /* [n_nodes] 0, or when every token below node i (beyond it) continues
                            * with plain characters from a character boundary: their most
                            * code points beyond the node (1..255, 255: that or more) */
    int32_t plain_max;     /* longest plain token in code points (0: none) */
    uint32_t *plain_bits;  /* [(plain_max + 1) * ((n_vocab + 31) / 32)]: row k = plain tokens of <= k points */
    int64_t *plain_count;  /* [plain_max + 1] bits set in row k */
    struct lair_grammar_vocab *rest; /* trie of the other tokens (shares blob, off) */
};

/* Longest plain token, in code points, that the index covers. */
#define GRAM_PLAIN_MAX 64

/* The trie of the n_order tokens in order (gv->blob, gv->off, n_vocab set);
 * false when out of memory (grammar_vocab.c). */
bool gvocab_build_trie(lair_grammar_vocab *gv, int32_t *order, int32_t n_order);
/* Whether some output can contain the piece: up to 3 continuation bytes
 * (ending a character begun before), then valid UTF-8 whose last character
 * may be cut short.  Other pieces (broken UTF-8, which the byte automaton
 * refuses in every state) stay out of the trie: never allowed. */
bool gvocab_utf8_possible(const uint8_t *p, int64_t len);
/* Builds the plain-text index once the trie is built; false when out of memory. */
bool gvocab_build_plain(lair_grammar_vocab *gv);
/* Whether every top class of state s (no partial character) either holds
 * every plain code point or none: all plain characters lead to one state. */
bool gengine_plain_uniform(const gengine *e, int32_t s);
/* Matcher counters for tests: masks built from the plain-text index, and
 * trie subtrees taken whole because their plain suffixes fit a plain run. */
void gmatcher_plain_stats(const lair_grammar_matcher *m, int64_t *plain_masks, int64_t *plain_subtrees);
/* Fills the plain run of state s (and of the states on it), measuring on
 * past an open run's end while it is shorter than need; false when a limit
 * or out of memory cut it (nothing cached). */
bool gengine_plain_run(gengine *e, int32_t s, int32_t need);

/* A vocabulary from explicit pieces (tests and fuzzing): token t has the
 * lens[t] bytes pieces[t]; eog[t] marks end-of-generation tokens; empty
 * pieces are control tokens. */
lair_status gvocab_from_pieces(const char *const *pieces, const size_t *lens, const bool *eog, int32_t n,
                               lair_grammar_vocab **out, lair_err *err);

#endif
