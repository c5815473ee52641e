/* A string -> int32 hash map over borrowed bytes (open addressing, linear
 * probing).  Keys are (pointer, length) pairs that must outlive the map: token
 * texts in the GGUF mapping, or an arena the owner keeps.  Inserting a key
 * that is already present replaces its value ("last one wins", the rule
 * llama.cpp applies to duplicate token texts). */
#ifndef LAIR_TEXT_STRMAP_H
#define LAIR_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct lair_strmap_slot {
    const char *key;  /* NULL: empty */
    uint32_t len;
    int32_t value;
    uint64_t hash;
} lair_strmap_slot;

typedef struct lair_strmap {
    lair_strmap_slot *slots;
    size_t mask;      /* capacity - 1 (capacity is a power of two) */
    size_t count;
} lair_strmap;

uint64_t lair_str_hash(const char *s, size_t len);
/* Sized for `expected` keys at load factor <= 1/2; returns 0 or -1 (no memory). */
int lair_strmap_init(lair_strmap *m, size_t expected);
void lair_strmap_free(lair_strmap *m);
/* -1 when the map is full (it never grows: size it for every key). */
int lair_strmap_put(lair_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t lair_strmap_get(const lair_strmap *m, const char *key, size_t len);

#endif
