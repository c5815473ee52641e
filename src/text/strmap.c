#include "text/strmap.h"

#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"

/* 64-bit FNV-1a over 8-byte words, then a final avalanche: fast on the short
 * keys this map holds (token texts, 1-20 bytes) and well spread. */
uint64_t lair_str_hash(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

int lair_strmap_init(lair_strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap <<= 1;
    m->slots = lair_calloc(cap, sizeof *m->slots);
    m->entries = lair_malloc((expected + 1) * sizeof *m->entries);
    m->mask = cap - 1;
    m->count = 0;
    m->max = expected + 1;
    if (!m->slots || !m->entries) {
        lair_strmap_free(m);
        return -1;
    }
    return 0;
}

void lair_strmap_free(lair_strmap *m) {
    lair_free(m->slots);
    lair_free(m->entries);
    m->slots = NULL;
    m->entries = NULL;
    m->count = 0;
}

static inline bool key_eq(const lair_strmap_entry *e, const char *key, size_t len) {
    return e->len == len && memcmp(e->key, key, len) == 0;
}

int lair_strmap_put(lair_strmap *m, const char *key, size_t len, int32_t value) {
    uint64_t h = lair_str_hash(key, len), tag = h >> 32 << 32;
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) {
            if (m->count >= m->max) return -1;
            m->entries[m->count] = (lair_strmap_entry){key, (uint32_t)len, value};
            m->slots[i] = tag | (uint64_t)(m->count + 1);
            m->count++;
            return 0;
        }
        lair_strmap_entry *e = &m->entries[(uint32_t)s - 1];
        if ((s & ~0xffffffffull) == tag && key_eq(e, key, len)) {
            e->value = value;
            return 0;
        }
    }
}

int32_t lair_strmap_get(const lair_strmap *m, const char *key, size_t len) {
    uint64_t h = lair_str_hash(key, len), tag = h >> 32 << 32;
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) return -1;
        if ((s & ~0xffffffffull) == tag) {
            const lair_strmap_entry *e = &m->entries[(uint32_t)s - 1];
            if (key_eq(e, key, len)) return e->value;
        }
    }
}
