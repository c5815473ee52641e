/* Integer ranges -> digit grammars: exact for any bounds (digit strings,
 * so bounds past 64 bits such as 1e300 work), open ends included. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "grammar/schema_internal.h"

static void big_norm(sch_big *a) {
    size_t n = strlen(a->d), z = 0;
    while (z + 1 < n && a->d[z] == '0') z++;
    if (z) memmove(a->d, a->d + z, n - z + 1);
    if (strcmp(a->d, "0") == 0) a->neg = false;
}

/* Magnitude +1 / -1 (the magnitude is >= 1 for the decrement). */
static void mag_inc(char *d) {
    size_t n = strlen(d), i = n;
    while (i > 0 && d[i - 1] == '9') d[--i] = '0';
    if (i > 0) {
        d[i - 1]++;
    } else if (n + 2 < sizeof(((sch_big *)0)->d)) {
        memmove(d + 1, d, n + 1);
        d[0] = '1';
    }
}
static void mag_dec(char *d) {
    size_t i = strlen(d);
    while (i > 0 && d[i - 1] == '0') d[--i] = '9';
    if (i > 0) d[i - 1]--;
}

static void big_add1(sch_big *a, int delta) {
    bool up = (delta > 0) != a->neg; /* magnitude grows */
    if (strcmp(a->d, "0") == 0) {
        strcpy(a->d, "1");
        a->neg = delta < 0;
        return;
    }
    if (up) mag_inc(a->d);
    else mag_dec(a->d);
    big_norm(a);
}

int sch_big_cmp(const sch_big *a, const sch_big *b) {
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    size_t la = strlen(a->d), lb = strlen(b->d);
    int c = la != lb ? (la < lb ? -1 : 1) : strcmp(a->d, b->d);
    if (c) c = c < 0 ? -1 : 1;
    return a->neg ? -c : c;
}

void sch_big_from_json_number(sch_big *out, double x, long long i, bool is_int, bool lower, bool exclusive) {
    memset(out, 0, sizeof *out);
    char tmp[sizeof out->d + 8];
    if (is_int) {
        snprintf(tmp, sizeof tmp, "%lld", i);
    } else {
        /* The integral neighbour is exact in a double; "%.0f" prints all of
         * its digits.  Exclusive bounds then step by one in decimal (least
         * integer > x is floor(x) + 1, greatest < x is ceil(x) - 1), since
         * floor(x) + 1 == floor(x) in doubles past 2^53. */
        double t = lower ? (exclusive ? floor(x) : ceil(x)) : (exclusive ? ceil(x) : floor(x));
        snprintf(tmp, sizeof tmp, "%.0f", t);
    }
    const char *p = tmp;
    if (*p == '-') {
        out->neg = true;
        p++;
    }
    size_t n = strlen(p);
    if (n >= sizeof out->d) n = sizeof out->d - 1; /* cannot happen: |x| < 1e309 */
    memcpy(out->d, p, n);
    out->d[n] = 0;
    big_norm(out);
    if (exclusive) big_add1(out, lower ? 1 : -1);
}

static void lit_digits(sch_buf *b, const char *s, size_t n) {
    sch_lit(b, s, n);
    sch_put(b, " ");
}

static const char NINES[] =
    "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
    "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
    "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
    "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999";
static const char ZEROS[] =
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

static bool all_of(const char *s, size_t n, char c) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != c) return false;
    return true;
}

/* Digit strings of length n between lo and hi (same length, lo <= hi). */
static void same_len(sch_buf *b, const char *lo, const char *hi, size_t n) {
    size_t p = 0;
    while (p < n && lo[p] == hi[p]) p++;
    if (p) lit_digits(b, lo, p);
    if (p == n) return;
    lo += p, hi += p, n -= p;
    size_t rest = n - 1;
    bool lo_zero = all_of(lo + 1, rest, '0'), hi_nine = all_of(hi + 1, rest, '9');
    char a = lo[0], z = hi[0];
    bool first = true;
    sch_put(b, "(");
    if (!lo_zero) {
        lit_digits(b, lo, 1);
        same_len(b, lo + 1, NINES, rest);
        a++;
        first = false;
    }
    if (!hi_nine) z--;
    if (a <= z) {
        if (!first) sch_put(b, "| ");
        sch_printf(b, "[%c-%c] ", a, z);
        if (rest) sch_printf(b, "[0-9]{%zu} ", rest);
        first = false;
    }
    if (!hi_nine) {
        if (!first) sch_put(b, "| ");
        lit_digits(b, hi, 1);
        same_len(b, ZEROS, hi + 1, rest);
    }
    sch_put(b, ") ");
}

/* Alternatives for the naturals in [a, hi] (hi may be inf). */
static void pos_range(sch_buf *b, const char *a, const sch_big *hi) {
    size_t la = strlen(a), lh = hi->inf ? la : strlen(hi->d);
    char lo_s[sizeof hi->d];
    bool first = true;
    for (size_t L = la; L <= lh; L++) {
        const char *lo = a, *up = NINES;
        if (L != la) {
            lo_s[0] = '1';
            memcpy(lo_s + 1, ZEROS, L - 1);
            lo = lo_s;
        }
        if (!hi->inf && L == lh) up = hi->d;
        if (!first) sch_put(b, "| ");
        sch_put(b, "(");
        same_len(b, lo, up, L);
        sch_put(b, ") ");
        first = false;
    }
    if (hi->inf) {
        if (!first) sch_put(b, "| ");
        sch_printf(b, "[1-9] [0-9]{%zu,} ", la);
    }
}

bool sch_int_range(sch_buf *b, const sch_big *lo, const sch_big *hi) {
    if (!lo->inf && !hi->inf && sch_big_cmp(lo, hi) > 0) return false;
    bool first = true;
    if (hi->inf || !hi->neg) { /* the part >= 0 */
        pos_range(b, (lo->inf || lo->neg) ? "0" : lo->d, hi);
        first = false;
    }
    if (lo->inf || lo->neg) { /* the part < 0: magnitudes in [max(1,-hi), -lo] */
        sch_big mhi = *lo;
        mhi.neg = false;
        if (!first) sch_put(b, "| ");
        sch_put(b, "\"-\" (");
        pos_range(b, (hi->inf || !hi->neg) ? "1" : hi->d, &mhi);
        sch_put(b, ") ");
    }
    return true;
}
