/* Python's two string formatting mini-languages as templates use them:
 * str.format / format() with format specs, and printf-style %. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "text/jinja_internal.h"

/* ---- Python format specs (format() / str.format) ------------------------------------
 * Numbers are formatted with snprintf and a format string built at run time. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif

typedef struct fspec {
    char fill[5];
    size_t fill_len;
    char align; /* 0, '<', '>', '^', '=' */
    char sign;  /* 0, '+', '-', ' ' */
    bool alt, zero;
    int64_t width, prec; /* -1: none */
    char group;          /* 0, ',', '_' */
    char type;
} fspec;

static int parse_spec(jrender *R, const char *s, size_t n, fspec *f) {
    memset(f, 0, sizeof *f);
    f->width = f->prec = -1;
    f->fill[0] = ' ';
    f->fill_len = 1;
    size_t i = 0;
    uint32_t cp;
    size_t k = n ? u8_decode(s, n, &cp) : 0;
    if (k && k < n && strchr("<>^=", s[k])) {
        memcpy(f->fill, s, k);
        f->fill_len = k;
        f->align = s[k];
        i = k + 1;
    } else if (n && strchr("<>^=", s[0])) {
        f->align = s[0];
        i = 1;
    }
    if (i < n && strchr("+- ", s[i])) f->sign = s[i++];
    if (i < n && s[i] == '#') f->alt = true, i++;
    if (i < n && s[i] == '0') {
        f->zero = true;
        i++;
    }
    if (i < n && isdigit((unsigned char)s[i])) {
        f->width = 0;
        while (i < n && isdigit((unsigned char)s[i]) && f->width < 100000000) f->width = f->width * 10 + (s[i++] - '0');
    }
    if (i < n && (s[i] == ',' || s[i] == '_')) f->group = s[i++];
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !isdigit((unsigned char)s[i])) return jr_fail(R, LAIR_ERR_ARG, "Format specifier missing precision");
        f->prec = 0;
        while (i < n && isdigit((unsigned char)s[i]) && f->prec < 1000) f->prec = f->prec * 10 + (s[i++] - '0');
    }
    if (i < n) f->type = s[i++];
    if (i != n) return jr_fail(R, LAIR_ERR_ARG, "Invalid format specifier");
    if (f->width > 1000000) return jr_fail(R, LAIR_ERR_LIMIT, "format width too large");
    return 0;
}

static int put_padded(jrender *R, jbuf *b, const char *body, size_t n, const fspec *f, char defalign, size_t sign_len) {
    int64_t len = (int64_t)u8_count(body, n);
    char align = f->align ? f->align : defalign;
    const char *fill = f->fill;
    size_t fl = f->fill_len;
    if (!f->align && f->zero && defalign == '>') {
        align = '=';
        fill = "0";
        fl = 1;
    }
    int64_t pad = f->width > len ? f->width - len : 0, left = 0;
    if (align == '>') left = pad;
    else if (align == '^') left = pad / 2;
    int r = 0;
    if (align == '=') {
        r = jb_put(R, b, body, sign_len);
        for (int64_t i = 0; i < pad && !r; i++) r = jb_put(R, b, fill, fl);
        if (!r) r = jb_put(R, b, body + sign_len, n - sign_len);
        return r;
    }
    for (int64_t i = 0; i < left && !r; i++) r = jb_put(R, b, fill, fl);
    if (!r) r = jb_put(R, b, body, n);
    for (int64_t i = 0; i < pad - left && !r; i++) r = jb_put(R, b, fill, fl);
    return r;
}

static void group_digits(char *digits, char sep) {
    /* digits: NUL-terminated run of digits (maybe with a fraction after '.'); inserts sep every 3 */
    char tmp[400];
    size_t n = strcspn(digits, ".eE"), o = 0;
    for (size_t i = 0; i < n; i++) {
        tmp[o++] = digits[i];
        size_t rest = n - i - 1;
        if (rest && rest % 3 == 0) tmp[o++] = sep;
    }
    strcpy(tmp + o, digits + n);
    strcpy(digits, tmp);
}

static int format_value(jrender *R, jbuf *b, jv v, const char *spec, size_t sn) {
    if (sn == 0) return jv_write_str(R, b, v);
    fspec f;
    if (parse_spec(R, spec, sn, &f)) return -1;
    char body[400];
    if (v.k == JV_STR) {
        if (f.type && f.type != 's') return jr_fail(R, LAIR_ERR_ARG, "Unknown format code '%c' for object of type 'str'", f.type);
        size_t n = v.u.s->len;
        if (f.prec >= 0) n = u8_offset(v.u.s->s, n, (size_t)f.prec);
        return put_padded(R, b, v.u.s->s, n, &f, '<', 0);
    }
    if (v.k == JV_INT || v.k == JV_BOOL) {
        int64_t x = v.k == JV_INT ? v.u.i : v.u.b;
        if (v.k == JV_BOOL && !f.type) return jv_write_str(R, b, v);
        char t = f.type ? f.type : 'd';
        if (strchr("eEfFgG%", t)) {
            v = jv_float((double)x);
        } else {
            char digits[80];
            uint64_t ux = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            const char *prefix = "";
            if (t == 'd' || t == 'n') snprintf(digits, sizeof digits, "%llu", (unsigned long long)ux);
            else if (t == 'x' || t == 'X') {
                snprintf(digits, sizeof digits, t == 'x' ? "%llx" : "%llX", (unsigned long long)ux);
                prefix = t == 'x' ? "0x" : "0X";
            } else if (t == 'o') {
                snprintf(digits, sizeof digits, "%llo", (unsigned long long)ux);
                prefix = "0o";
            }
            else if (t == 'b') {
                int nb = 0;
                char rev[70];
                do rev[nb++] = (char)('0' + (ux & 1)); while (ux >>= 1);
                for (int i = 0; i < nb; i++) digits[i] = rev[nb - 1 - i];
                digits[nb] = 0;
                prefix = "0b";
            } else if (t == 'c') {
                char enc[5] = {0};
                if (x < 0 || x > 0x10FFFF) return jr_fail(R, LAIR_ERR_ARG, "%%c arg not in range(0x110000)");
                u8_encode((uint32_t)x, enc);
                return put_padded(R, b, enc, strlen(enc), &f, '<', 0);
            } else return jr_fail(R, LAIR_ERR_ARG, "Unknown format code '%c' for object of type 'int'", t);
            if (f.group) group_digits(digits, f.group);
            const char *sg = x < 0 ? "-" : f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
            snprintf(body, sizeof body, "%s%s%s", sg, f.alt ? prefix : "", digits);
            return put_padded(R, b, body, strlen(body), &f, '>', strlen(sg) + (f.alt ? strlen(prefix) : 0));
        }
    }
    if (v.k == JV_FLOAT) {
        double x = v.u.d;
        char t = f.type;
        int64_t prec = f.prec;
        char num[360];
        if (!t && prec < 0) {
            py_float_repr(fabs(x), num);
        } else {
            if (!t) t = 'g';
            if (prec < 0) prec = 6;
            if (prec > 300) prec = 300;
            double y = fabs(x);
            if (t == '%') y *= 100.0;
            char ct = t == '%' ? 'f' : t == 'n' ? 'g' : t;
            if (!strchr("eEfFgG", ct)) return jr_fail(R, LAIR_ERR_ARG, "Unknown format code '%c' for object of type 'float'", t);
            char fmt[16];
            snprintf(fmt, sizeof fmt, "%%%s.%d%c", f.alt ? "#" : "", (int)prec, ct);
            snprintf(num, sizeof num, fmt, y);
            if (t == '%') strcat(num, "%");
        }
        if (f.group) group_digits(num, f.group);
        const char *sg = signbit(x) && !isnan(x) ? "-" : f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
        snprintf(body, sizeof body, "%s%s", sg, num);
        return put_padded(R, b, body, strlen(body), &f, '>', strlen(sg));
    }
    return jr_fail(R, LAIR_ERR_ARG, "unsupported format string passed to %s.__format__", jv_type_name(v));
}

/* ---- str.format ---------------------------------------------------------------------- */

int jm_str_format(jrender *R, jv fmt, const jargs *a, jv *out) {
    const char *s = fmt.u.s->s;
    size_t n = fmt.u.s->len;
    bool mk = fmt.f & JF_MARKUP;
    jbuf b = {0};
    size_t auto_idx = 0;
    int mode = 0; /* 1 automatic numbering, 2 manual */
    int r = 0;
    for (size_t i = 0; i < n && !r;) {
        char c = s[i];
        if (c == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                r = jb_put(R, &b, "}", 1);
                i += 2;
                continue;
            }
            r = jr_fail(R, LAIR_ERR_ARG, "Single '}' encountered in format string");
            break;
        }
        if (c != '{') {
            size_t j = i;
            while (j < n && s[j] != '{' && s[j] != '}') j++;
            r = jb_put(R, &b, s + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            r = jb_put(R, &b, "{", 1);
            i += 2;
            continue;
        }
        size_t j = i + 1;
        while (j < n && s[j] != '}' && s[j] != '{') j++;
        if (j >= n || s[j] == '{') {
            if (j >= n) r = jr_fail(R, LAIR_ERR_ARG, "expected '}' before end of string");
            else r = jr_fail(R, LAIR_ERR_ARG, "nested replacement fields in format strings are not supported");
            break;
        }
        const char *fld = s + i + 1;
        size_t fn = j - i - 1;
        i = j + 1;
        size_t nameend = 0;
        while (nameend < fn && fld[nameend] != '!' && fld[nameend] != ':') nameend++;
        char conv = 0;
        const char *spec = fld + nameend;
        size_t specn = 0;
        if (nameend < fn && fld[nameend] == '!') {
            if (nameend + 1 >= fn) {
                r = jr_fail(R, LAIR_ERR_ARG, "end of string while looking for conversion specifier");
                break;
            }
            conv = fld[nameend + 1];
            spec = fld + nameend + 2;
            if (spec < fld + fn && *spec != ':') {
                r = jr_fail(R, LAIR_ERR_ARG, "expected ':' after conversion specifier");
                break;
            }
        }
        if (spec < fld + fn && *spec == ':') {
            spec++;
            specn = (size_t)(fld + fn - spec);
        }
        /* field name: first part, then .attr / [key] */
        size_t fe = 0;
        while (fe < nameend && fld[fe] != '.' && fld[fe] != '[') fe++;
        jv val;
        if (fe == 0) {
            if (mode == 2) {
                r = jr_fail(R, LAIR_ERR_ARG, "cannot switch from manual field specification to automatic field numbering");
                break;
            }
            mode = 1;
            if (auto_idx >= a->npos) {
                r = jr_fail(R, LAIR_ERR_ARG, "Replacement index %zu out of range for positional args tuple", auto_idx);
                break;
            }
            val = jv_ref(a->pos[auto_idx++]);
        } else if (isdigit((unsigned char)fld[0])) {
            if (mode == 1) {
                r = jr_fail(R, LAIR_ERR_ARG, "cannot switch from automatic field numbering to manual field specification");
                break;
            }
            mode = 2;
            size_t idx = 0;
            for (size_t q = 0; q < fe && idx < 1000000; q++) idx = idx * 10 + (size_t)(fld[q] - '0');
            if (idx >= a->npos) {
                r = jr_fail(R, LAIR_ERR_ARG, "Replacement index %zu out of range for positional args tuple", idx);
                break;
            }
            val = jv_ref(a->pos[idx]);
        } else {
            size_t q;
            for (q = 0; q < a->nkw; q++)
                if (strlen(a->kwn[q]) == fe && memcmp(a->kwn[q], fld, fe) == 0) break;
            if (q == a->nkw) {
                r = jr_fail(R, LAIR_ERR_ARG, "KeyError: '%.*s'", (int)fe, fld);
                break;
            }
            val = jv_ref(a->kwv[q]);
        }
        size_t p = fe;
        while (!r && p < nameend) {
            jv nv;
            if (fld[p] == '.') {
                size_t e = p + 1;
                while (e < nameend && fld[e] != '.' && fld[e] != '[') e++;
                if (e - p - 1 >= 1 && fld[p + 1] == '_') r = jr_fail(R, LAIR_ERR_ARG, "access to attribute '%.*s' is unsafe", (int)(e - p - 1), fld + p + 1);
                else r = je_getattr(R, val, fld + p + 1, e - p - 1, &nv);
                p = e;
            } else {
                size_t e = p + 1;
                while (e < nameend && fld[e] != ']') e++;
                if (e >= nameend) {
                    r = jr_fail(R, LAIR_ERR_ARG, "Missing ']' in format string");
                    break;
                }
                jv key;
                bool digits = e > p + 1;
                for (size_t q = p + 1; q < e; q++)
                    if (!isdigit((unsigned char)fld[q])) digits = false;
                if (digits) {
                    int64_t k = 0;
                    for (size_t q = p + 1; q < e && k < 100000000; q++) k = k * 10 + (fld[q] - '0');
                    key = jv_int(k);
                } else if (jv_str_new(R, fld + p + 1, e - p - 1, &key)) {
                    r = -1;
                    break;
                }
                r = je_getitem(R, val, key, &nv);
                jv_unref(R, key);
                p = e + 1;
            }
            if (!r) {
                jv_unref(R, val);
                val = nv;
            }
        }
        if (!r) {
            jbuf one = {0};
            if (conv == 'r' || conv == 'a') r = jv_write_repr(R, &one, val);
            else if (conv == 's') r = jv_write_str(R, &one, val);
            else if (conv) r = jr_fail(R, LAIR_ERR_ARG, "Unknown conversion specifier %c", conv);
            else if (val.k == JV_UNDEF && specn == 0) r = 0;
            else r = format_value(R, &one, val, spec, specn);
            if (!r && conv && specn) {
                jv sv;
                r = jb_take(R, &one, 0, &sv);
                if (!r) {
                    r = format_value(R, &b, sv, spec, specn);
                    jv_unref(R, sv);
                }
            } else if (!r) {
                bool escape = mk && !(val.k == JV_STR && (val.f & JF_MARKUP));
                r = escape ? jb_put_escaped(R, &b, one.p ? one.p : "", one.n) : jb_put(R, &b, one.p ? one.p : "", one.n);
                jr_release(R, one.p, one.cap);
            } else {
                jr_release(R, one.p, one.cap);
            }
        }
        jv_unref(R, val);
    }
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, mk, out);
}

/* ---- printf-style % ------------------------------------------------------------------- */

int jm_percent_format(jrender *R, jv fmt, jv args, jv *out) {
    const char *s = fmt.u.s->s;
    size_t n = fmt.u.s->len;
    bool mk = fmt.f & JF_MARKUP;
    const jv *argv = &args;
    size_t argc = 1, ai = 0;
    bool is_map = args.k == JV_DICT;
    if (args.k == JV_LIST && (args.f & JF_TUPLE)) {
        argv = args.u.l->v;
        argc = args.u.l->n;
    }
    jbuf b = {0};
    int r = 0;
    bool used_map = false;
    for (size_t i = 0; i < n && !r;) {
        if (s[i] != '%') {
            size_t j = i;
            while (j < n && s[j] != '%') j++;
            r = jb_put(R, &b, s + i, j - i);
            i = j;
            continue;
        }
        i++;
        if (i >= n) {
            r = jr_fail(R, LAIR_ERR_ARG, "incomplete format");
            break;
        }
        jv val = jv_missing();
        if (s[i] == '(') {
            size_t j = i + 1;
            while (j < n && s[j] != ')') j++;
            if (j >= n || !is_map) {
                r = jr_fail(R, LAIR_ERR_ARG, j >= n ? "incomplete format key" : "format requires a mapping");
                break;
            }
            jv *v = jdict_get_str(args.u.m, s + i + 1, j - i - 1);
            if (!v) {
                r = jr_fail(R, LAIR_ERR_ARG, "KeyError: '%.*s'", (int)(j - i - 1), s + i + 1);
                break;
            }
            val = *v;
            used_map = true;
            i = j + 1;
        }
        char flags[8] = {0};
        size_t nf = 0;
        while (i < n && strchr("-+ #0", s[i]) && nf < 6) flags[nf++] = s[i++];
        int64_t width = -1, prec = -1;
        if (i < n && s[i] == '*') {
            if (ai >= argc || jv_need_int(R, argv[ai], &width, "* wants int")) {
                r = ai >= argc ? jr_fail(R, LAIR_ERR_ARG, "not enough arguments for format string") : -1;
                break;
            }
            ai++;
            i++;
        } else if (i < n && isdigit((unsigned char)s[i])) {
            width = 0;
            while (i < n && isdigit((unsigned char)s[i]) && width < 1000000) width = width * 10 + (s[i++] - '0');
        }
        if (i < n && s[i] == '.') {
            i++;
            prec = 0;
            if (i < n && s[i] == '*') {
                if (ai >= argc || jv_need_int(R, argv[ai], &prec, "* wants int")) {
                    r = ai >= argc ? jr_fail(R, LAIR_ERR_ARG, "not enough arguments for format string") : -1;
                    break;
                }
                ai++;
                i++;
            } else
                while (i < n && isdigit((unsigned char)s[i]) && prec < 1000) prec = prec * 10 + (s[i++] - '0');
        }
        while (i < n && strchr("hlL", s[i])) i++;
        if (i >= n) {
            r = jr_fail(R, LAIR_ERR_ARG, "incomplete format");
            break;
        }
        char t = s[i++];
        if (t == '%') {
            r = jb_put(R, &b, "%", 1);
            continue;
        }
        if (val.k == JV_MISSING) {
            if (is_map && !(args.k == JV_LIST)) val = args;
            else {
                if (ai >= argc) {
                    r = jr_fail(R, LAIR_ERR_ARG, "not enough arguments for format string");
                    break;
                }
                val = argv[ai++];
            }
        }
        if (width > 1000000) width = 1000000;
        char spec[64];
        size_t sp = 0;
        bool left = strchr(flags, '-') != NULL, zero = strchr(flags, '0') != NULL && !left;
        char sign = strchr(flags, '+') ? '+' : strchr(flags, ' ') ? ' ' : 0;
        if (t == 's' || t == 'r' || t == 'a') {
            jbuf one = {0};
            r = t == 's' ? jv_write_str(R, &one, val) : jv_write_repr(R, &one, val);
            if (r) {
                jr_release(R, one.p, one.cap);
                break;
            }
            size_t len = one.n;
            if (prec >= 0) len = u8_offset(one.p ? one.p : "", one.n, (size_t)prec);
            int64_t cps = (int64_t)u8_count(one.p ? one.p : "", len);
            int64_t pad = width > cps ? width - cps : 0;
            bool esc = mk && !(val.k == JV_STR && (val.f & JF_MARKUP));
            for (int64_t q = 0; q < pad && !left && !r; q++) r = jb_put(R, &b, " ", 1);
            if (!r) r = esc ? jb_put_escaped(R, &b, one.p ? one.p : "", len) : jb_put(R, &b, one.p ? one.p : "", len);
            for (int64_t q = 0; q < pad && left && !r; q++) r = jb_put(R, &b, " ", 1);
            jr_release(R, one.p, one.cap);
            continue;
        }
        if (val.k == JV_UNDEF) {
            r = jv_undef_fail(R, val);
            break;
        }
        if (!jv_is_num(val)) {
            r = jr_fail(R, LAIR_ERR_ARG, "%%%c format: a real number is required, not %s", t, jv_type_name(val));
            break;
        }
        spec[sp++] = '%';
        if (left) spec[sp++] = '-';
        if (zero) spec[sp++] = '0';
        if (sign) spec[sp++] = sign;
        if (strchr(flags, '#')) spec[sp++] = '#';
        spec[sp] = 0;
        char tmp[400];
        if (strchr("diu", t)) {
            int64_t x = val.k == JV_FLOAT ? (int64_t)trunc(val.u.d) : val.k == JV_INT ? val.u.i : val.u.b;
            if (val.k == JV_FLOAT && !(fabs(val.u.d) < 9.2e18)) {
                r = jr_fail(R, LAIR_ERR_ARG, "cannot convert float to integer");
                break;
            }
            snprintf(spec + sp, sizeof spec - sp, "%s%slld", width >= 0 ? "*" : "", prec >= 0 ? ".*" : "");
            if (width >= 0 && prec >= 0) snprintf(tmp, sizeof tmp, spec, (int)width, (int)prec, (long long)x);
            else if (width >= 0) snprintf(tmp, sizeof tmp, spec, (int)width, (long long)x);
            else if (prec >= 0) snprintf(tmp, sizeof tmp, spec, (int)prec, (long long)x);
            else snprintf(tmp, sizeof tmp, spec, (long long)x);
        } else if (strchr("xXoc", t)) {
            if (val.k == JV_FLOAT) {
                r = jr_fail(R, LAIR_ERR_ARG, "%%%c format: an integer is required, not float", t);
                break;
            }
            int64_t x = val.k == JV_INT ? val.u.i : val.u.b;
            if (t == 'c') {
                char enc[5] = {0};
                if (x < 0 || x > 0x10FFFF) {
                    r = jr_fail(R, LAIR_ERR_ARG, "%%c arg not in range(0x110000)");
                    break;
                }
                u8_encode((uint32_t)x, enc);
                snprintf(tmp, sizeof tmp, "%s", enc);
            } else {
                uint64_t ux = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
                char digits[80];
                snprintf(digits, sizeof digits, t == 'x' ? "%llx" : t == 'X' ? "%llX" : "%llo", (unsigned long long)ux);
                const char *pre = strchr(flags, '#') ? (t == 'x' ? "0x" : t == 'X' ? "0X" : "0o") : "";
                const char *sg = x < 0 ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
                char body[120];
                snprintf(body, sizeof body, "%s%s%s", sg, pre, digits);
                int64_t pad = width > (int64_t)strlen(body) ? width - (int64_t)strlen(body) : 0;
                size_t o = 0;
                if (!left && !zero)
                    for (int64_t q = 0; q < pad && o < 300; q++) tmp[o++] = ' ';
                size_t hl = strlen(sg) + strlen(pre);
                memcpy(tmp + o, body, hl);
                o += hl;
                if (zero)
                    for (int64_t q = 0; q < pad && o < 300; q++) tmp[o++] = '0';
                strcpy(tmp + o, digits);
                o += strlen(digits);
                if (left)
                    for (int64_t q = 0; q < pad && o < 390; q++) tmp[o++] = ' ';
                tmp[o] = 0;
            }
        } else if (strchr("eEfFgG", t)) {
            double x = val.k == JV_FLOAT ? val.u.d : (double)(val.k == JV_INT ? val.u.i : val.u.b);
            if (prec > 300) prec = 300;
            snprintf(spec + sp, sizeof spec - sp, "%s.%d%c", width >= 0 ? "*" : "", (int)(prec >= 0 ? prec : 6), t);
            if (width >= 0) snprintf(tmp, sizeof tmp, spec, (int)(width > 350 ? 350 : width), x);
            else snprintf(tmp, sizeof tmp, spec, x);
        } else {
            r = jr_fail(R, LAIR_ERR_ARG, "unsupported format character '%c'", t);
            break;
        }
        r = jb_puts(R, &b, tmp);
    }
    if (!r && !is_map && ai < argc && !used_map) r = jr_fail(R, LAIR_ERR_ARG, "not all arguments converted during string formatting");
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, mk, out);
}

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif
