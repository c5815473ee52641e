#include "text/strmap.h"

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
    while (cap < expected * 2) cap <<= 1;
    m->slots = lair_calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->count = 0;
    return m->slots ? 0 : -1;
}

void lair_strmap_free(lair_strmap *m) {
    lair_free(m->slots);
    m->slots = NULL;
    m->count = 0;
}

int lair_strmap_put(lair_strmap *m, const char *key, size_t len, int32_t value) {
    uint64_t h = lair_str_hash(key, len);
    for (size_t i = h & m->mask, n = 0; n <= m->mask; i = (i + 1) & m->mask, n++) {
        lair_strmap_slot *s = &m->slots[i];
        if (!s->key) {
            if (m->count + 1 > m->mask) return -1; /* keep one slot empty: lookups terminate */
            *s = (lair_strmap_slot){key, (uint32_t)len, value, h};
            m->count++;
            return 0;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return 0;
        }
    }
    return -1;
}

int32_t lair_strmap_get(const lair_strmap *m, const char *key, size_t len) {
    uint64_t h = lair_str_hash(key, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const lair_strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}
