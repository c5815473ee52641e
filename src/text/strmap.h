/* A string -> int32 hash map over borrowed bytes (open addressing, linear
 * probing).  Keys are (pointer, length) pairs that must outlive the map: token
 * texts in the GGUF mapping, or an arena the owner keeps.  Inserting a key
 * that is already present replaces its value ("last one wins", the rule
 * llama.cpp applies to duplicate token texts).
 *
 * Layout for lookups that mostly miss (tokenizers probe many pairs that are
 * not tokens): the probed table holds 8-byte slots (32 hash bits, entry
 * index), so a 128k-entry map's table is 2 MiB and a miss rarely leaves the
 * cache; keys are compared only when the hash bits agree. */
#ifndef LAIR_TEXT_STRMAP_H
#define LAIR_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct lair_strmap_entry {
    const char *key;
    uint32_t len;
    int32_t value;
} lair_strmap_entry;

typedef struct lair_strmap {
    uint64_t *slots;           /* 0: empty; else (hash >> 32) << 32 | (entry index + 1) */
    size_t mask;               /* capacity - 1 (a power of two) */
    lair_strmap_entry *entries;
    size_t count, max;         /* entries used / allocated */
} lair_strmap;

uint64_t lair_str_hash(const char *s, size_t len);
/* Room for `expected` keys (load factor <= 1/2); returns 0 or -1 (no memory). */
int lair_strmap_init(lair_strmap *m, size_t expected);
void lair_strmap_free(lair_strmap *m);
/* -1 when the map already holds `expected` keys (it never grows: size it for every key). */
int lair_strmap_put(lair_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t lair_strmap_get(const lair_strmap *m, const char *key, size_t len);

#endif
