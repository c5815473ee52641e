/* Split models: "NAME-00001-of-00003.gguf" ... open as one bundle.  Each
 * shard is a complete GGUF file; the first carries the model's metadata and
 * split.tensors.count, every shard carries split.no (0-based) and split.count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "gguf/gguf.h"
#include "core/sort.h"

#define GGUF_MAX_SPLITS 9999 /* five-digit shard numbers, as the naming convention allows */

static int bundle_name_cmp(void *ctx, uint64_t i, uint64_t j) {
    const gguf_bundle *b = ctx;
    return strcmp(b->tensors[i]->name, b->tensors[j]->name);
}

static lair_status split_key(const gguf_file *f, const char *key, uint64_t *v, lair_err *err) {
    lair_status s = gguf_get_u64(f, key, v, err);
    if (s == LAIR_ERR_ARG) return lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: split file lacks key '%s'", f->path, key);
    return s;
}

/* Finds "-NNNNN-of-MMMMM.gguf" at the end of path; fills the prefix length. */
static bool parse_split_name(const char *path, size_t *prefix_len, int *count) {
    size_t n = strlen(path);
    const char *tail = "-00000-of-00000.gguf";
    size_t tl = strlen(tail);
    if (n < tl) return false;
    const char *p = path + n - tl;
    for (size_t i = 0; i < tl; i++) {
        if (tail[i] == '0') {
            if (p[i] < '0' || p[i] > '9') return false;
        } else if (p[i] != tail[i]) return false;
    }
    *prefix_len = n - tl;
    *count = atoi(p + 10);
    return true;
}

lair_status gguf_bundle_open(const char *path, gguf_bundle **out, lair_err *err) {
    *out = NULL;
    gguf_file *first;
    lair_status s = gguf_open(path, &first, err);
    if (s) return s;
    gguf_bundle *b = lair_calloc(1, sizeof *b);
    if (!b) {
        gguf_close(first);
        return lair_err_set(err, LAIR_ERR_NOMEM, "gguf: out of memory");
    }
    uint64_t count = 1;
    if (gguf_find_kv(first, "split.count")) {
        uint64_t no;
        if ((s = split_key(first, "split.count", &count, err)) || (s = split_key(first, "split.no", &no, err))) goto fail_first;
        if (count < 1 || count > GGUF_MAX_SPLITS || no >= count) {
            s = lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: split.no %llu / split.count %llu out of range", path,
                             (unsigned long long)no, (unsigned long long)count);
            goto fail_first;
        }
    }
    b->files = lair_calloc((size_t)count, sizeof *b->files);
    if (!b->files) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "gguf: out of memory");
        goto fail_first;
    }
    b->n_files = (int)count;
    if (count == 1) {
        b->files[0] = first;
    } else {
        size_t plen;
        int named_count;
        if (!parse_split_name(path, &plen, &named_count) || (uint64_t)named_count != count) {
            s = lair_err_set(err, LAIR_ERR_FORMAT,
                             "gguf: %s: split.count is %llu but the name does not follow NAME-%05d-of-%05llu.gguf", path,
                             (unsigned long long)count, 1, (unsigned long long)count);
            goto fail_first;
        }
        size_t plen_total = plen + 32;
        char *p = lair_malloc(plen_total);
        if (!p) {
            s = lair_err_set(err, LAIR_ERR_NOMEM, "gguf: out of memory");
            goto fail_first;
        }
        uint64_t no0;
        split_key(first, "split.no", &no0, NULL);
        b->files[no0] = first;
        first = NULL;
        for (uint64_t i = 0; i < count; i++) {
            if (b->files[i]) continue;
            snprintf(p, plen_total, "%.*s-%05llu-of-%05llu.gguf", (int)plen, path, (unsigned long long)(i + 1),
                     (unsigned long long)count);
            if ((s = gguf_open(p, &b->files[i], err))) break;
            uint64_t no, cnt;
            if ((s = split_key(b->files[i], "split.no", &no, err)) || (s = split_key(b->files[i], "split.count", &cnt, err)))
                break;
            if (no != i || cnt != count) {
                s = lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: split.no %llu / split.count %llu, expected %llu / %llu", p,
                                 (unsigned long long)no, (unsigned long long)cnt, (unsigned long long)i,
                                 (unsigned long long)count);
                break;
            }
        }
        lair_free(p);
        if (s) goto fail;
    }
    for (int i = 0; i < b->n_files; i++) b->n_tensors += b->files[i]->n_tensors;
    if (count > 1) {
        uint64_t declared;
        if ((s = split_key(b->files[0], "split.tensors.count", &declared, err))) goto fail;
        if (declared != b->n_tensors) {
            s = lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: split.tensors.count says %llu tensors but the %d files hold %llu",
                             b->files[0]->path, (unsigned long long)declared, b->n_files, (unsigned long long)b->n_tensors);
            goto fail;
        }
    }
    b->tensors = lair_malloc((b->n_tensors ? b->n_tensors : 1) * sizeof *b->tensors);
    b->tensor_sorted = lair_malloc((b->n_tensors ? b->n_tensors : 1) * sizeof *b->tensor_sorted);
    uint64_t *tmp = lair_malloc((b->n_tensors ? b->n_tensors : 1) * sizeof *tmp);
    if (!b->tensors || !b->tensor_sorted || !tmp) {
        lair_free(tmp);
        s = lair_err_set(err, LAIR_ERR_NOMEM, "gguf: out of memory");
        goto fail;
    }
    uint64_t k = 0;
    for (int i = 0; i < b->n_files; i++)
        for (uint64_t j = 0; j < b->files[i]->n_tensors; j++) {
            b->files[i]->tensors[j].file_index = i;
            b->tensor_sorted[k] = k;
            b->tensors[k++] = &b->files[i]->tensors[j];
        }
    lair_sort_indices(b->tensor_sorted, tmp, b->n_tensors, bundle_name_cmp, b);
    lair_free(tmp);
    for (uint64_t i = 1; i < b->n_tensors; i++) {
        const gguf_tensor *x = b->tensors[b->tensor_sorted[i - 1]], *y = b->tensors[b->tensor_sorted[i]];
        if (strcmp(x->name, y->name) == 0) {
            s = lair_err_set(err, LAIR_ERR_FORMAT, "gguf: tensor '%s' appears in both %s and %s", x->name,
                             b->files[x->file_index]->path, b->files[y->file_index]->path);
            goto fail;
        }
    }
    *out = b;
    return LAIR_OK;
fail_first:
    gguf_close(first);
fail:
    gguf_bundle_free(b);
    return s;
}

void gguf_bundle_free(gguf_bundle *b) {
    if (!b) return;
    for (int i = 0; i < b->n_files; i++) gguf_close(b->files[i]);
    lair_free(b->files);
    lair_free(b->tensors);
    lair_free(b->tensor_sorted);
    lair_free(b);
}

const gguf_tensor *gguf_bundle_find_tensor(const gguf_bundle *b, const char *name) {
    uint64_t lo = 0, hi = b->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->tensors[b->tensor_sorted[mid]]->name, name);
        if (c == 0) return b->tensors[b->tensor_sorted[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

uint64_t gguf_bundle_file_bytes(const gguf_bundle *b) {
    uint64_t n = 0;
    for (int i = 0; i < b->n_files; i++) n += b->files[i]->map.size;
    return n;
}
