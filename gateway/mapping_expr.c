/*
 * mapping_expr.c - parser, printer and evaluator of mapping expressions
 * (grammar and semantics in mapping_expr.h).
 *
 * An expression compiles into a term (a path of steps, or a literal) and a
 * list of filters. Evaluation collects the term's values into a small list of
 * JSON references (borrowed from the document and reference-counted, so a
 * plain path allocates nothing but its result), then runs each filter over
 * the list in place. Case-insensitive comparisons fold both sides with the
 * same length-preserving case map, so folded texts compare with memcmp and
 * memmem.
 */
#include "mapping_expr.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scim_schema.h"

#define MX_MAX_STEPS   8     /* steps in one path */
#define MX_MAX_CONDS   8     /* conditions in one [selector] */
#define MX_MAX_FILTERS 16    /* filters in one expression */
#define MX_MAX_ARMS    32    /* arms of one map filter */
#define MX_MAX_NAME    128   /* bytes of an attribute name */
#define MX_MAX_INDEX   99999 /* largest [n] */
#define MX_GROWN_CAP   4096  /* replace never grows a value beyond this (or its input) */

enum mx_sel {
    MX_SEL_NONE,   /* no selector: every element of an array */
    MX_SEL_INDEX,  /* [n] */
    MX_SEL_FILTER, /* [conditions]: the first matching element */
};

enum mx_op {
    MX_OP_EQ, /* equal */
    MX_OP_NE, /* not equal */
    MX_OP_CO, /* contains */
    MX_OP_SW, /* starts with */
    MX_OP_EW, /* ends with */
    MX_OP_PR, /* present */
};

static const char *const op_names[] = {"eq", "ne", "co", "sw", "ew", "pr"};

struct mx_cond {
    char *attr; /* sub-attribute name as written */
    enum mx_op op; /* the comparison */
    json_t *value; /* the literal (owned), NULL for pr */
    char *folded;  /* lower-cased string literal (owned), or NULL */
    size_t folded_len; /* bytes of folded */
    bool or_before; /* an "or" precedes this condition */
};

struct mx_step {
    char *name; /* attribute name as written (owned) */
    enum mx_sel sel; /* which elements of an array the step takes */
    size_t index;          /* MX_SEL_INDEX */
    struct mx_cond *conds; /* MX_SEL_FILTER (owned) */
    size_t nconds;         /* entries of conds */
};

enum mx_kind {
    MX_DOWNCASE, /* downcase */
    MX_UPCASE,   /* upcase */
    MX_STRIP,    /* strip */
    MX_REPLACE,  /* replace: from, to */
    MX_DEFAULT,  /* default: value */
    MX_MAP,      /* map: arms */
};

static const struct {
    const char *name;
    size_t nargs; /* string arguments; map has arms instead */
} filter_defs[] = {
    [MX_DOWNCASE] = {"downcase", 0}, [MX_UPCASE] = {"upcase", 0},
    [MX_STRIP] = {"strip", 0},       [MX_REPLACE] = {"replace", 2},
    [MX_DEFAULT] = {"default", 1},   [MX_MAP] = {"map", 0},
};

struct mx_arm {
    char *from;        /* as written (owned); NULL for "*" */
    char *from_folded; /* lower-cased (owned); NULL for "*" */
    size_t from_len;   /* bytes of from and of from_folded */
    char *to;          /* the result (owned) */
    size_t to_len;     /* bytes of to */
};

struct mx_filter {
    enum mx_kind kind;   /* which filter */
    char *arg[2];        /* string arguments (owned) */
    size_t arg_len[2];   /* their lengths in bytes */
    struct mx_arm *arms; /* MX_MAP (owned) */
    size_t narms;        /* entries of arms */
};

struct mapping_expr {
    char *literal;             /* the string literal term (owned), or NULL for a path */
    size_t literal_len;        /* bytes of literal */
    char *urn;                 /* the path's URN prefix (owned), or NULL */
    bool urn_is_core;          /* the URN names the core User schema */
    struct mx_step *steps;     /* the path (owned) */
    size_t nsteps;             /* steps used */
    struct mx_filter *filters; /* the filters in order (owned) */
    size_t nfilters;           /* filters used */
};

/* ---- UTF-8 and case mapping ---- */

/* Decodes one character of s (len > 0). Returns its length in bytes, or 0 when
 * the bytes there are not valid UTF-8. */
static size_t u8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4 || len < n)
        return 0;
    uint32_t c = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Offset of the first byte that is not valid UTF-8 or is NUL, or len. */
static size_t u8_first_bad(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t n = u8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return i;
        i += n;
    }
    return len;
}

static bool in_pair_range(uint32_t c)
{
    return (c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
           (c >= 0x14A && c <= 0x177);
}

static bool in_odd_pair_range(uint32_t c)
{
    return (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
}

/* Simple lower-case mapping over the covered blocks. Every mapping keeps the
 * UTF-8 length of the character, which the callers rely on. */
static uint32_t fold_lower(uint32_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
        (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c == 0x178)
        return 0xFF;
    if ((in_pair_range(c) && c % 2 == 0) || (in_odd_pair_range(c) && c % 2 == 1))
        return c + 1;
    return c;
}

static uint32_t fold_upper(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
        (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
        return c - 0x20;
    if (c == 0x3C2)
        return 0x3A3;
    if (c >= 0x450 && c <= 0x45F)
        return c - 0x50;
    if (c == 0xFF)
        return 0x178;
    if ((in_pair_range(c) && c % 2 == 1) || (in_odd_pair_range(c) && c % 2 == 0))
        return c - 1;
    return c;
}

/* Writes cp, which is below 0x800, as 1 or 2 bytes. */
static size_t u8_encode_short(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Copies len bytes of src to dst (same size) with each character case-mapped;
 * bytes that are not valid UTF-8 are copied as they are. */
static void fold_copy(char *dst, const char *src, size_t len, bool upper)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp, f;
        size_t n = u8_decode((const unsigned char *)src + i, len - i, &cp);
        if (n == 0) {
            dst[i] = src[i];
            i++;
            continue;
        }
        f = upper ? fold_upper(cp) : fold_lower(cp);
        char enc[2];
        if (f != cp && f < 0x800 && u8_encode_short(f, enc) == n)
            memcpy(dst + i, enc, n);
        else
            memcpy(dst + i, src + i, n);
        i += n;
    }
}

/* True when a (alen bytes) folds to the already folded b (blen bytes). */
static bool fold_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    char small[256];
    char *buf = alen <= sizeof small ? small : xmalloc(alen);
    fold_copy(buf, a, alen, false);
    bool eq = memcmp(buf, b, alen) == 0;
    if (buf != small)
        free(buf);
    return eq;
}

/* A new lower-cased copy of s (len bytes, NUL-terminated). */
static char *fold_dup(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    fold_copy(out, s, len, false);
    out[len] = '\0';
    return out;
}

/* ---- values ---- */

/* The shortest %g text that reads back as d. */
static void print_real(char *buf, size_t size, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* The text of a scalar: a string's bytes or the JSON text of a number or
 * boolean. */
struct mx_text {
    const char *s; /* the text, not NUL-terminated (borrowed or buf) */
    size_t len;    /* its length in bytes */
    char buf[40];  /* storage for a number's or boolean's text */
};

static bool text_of(const json_t *v, struct mx_text *t)
{
    int n = -1;
    if (json_is_string(v)) {
        t->s = json_string_value(v);
        t->len = json_string_length(v);
        return true;
    }
    if (json_is_boolean(v))
        n = snprintf(t->buf, sizeof t->buf, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v))
        n = snprintf(t->buf, sizeof t->buf, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
    else if (json_is_real(v))
        n = (print_real(t->buf, sizeof t->buf, json_real_value(v)), (int)strlen(t->buf));
    if (n < 0)
        return false;
    t->s = t->buf;
    t->len = (size_t)n;
    return true;
}

static bool is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* Null, "", objects and arrays are not values of a list. */
static bool is_value(const json_t *v)
{
    return is_scalar(v) && !(json_is_string(v) && json_string_length(v) == 0);
}

/* The member of obj named name: exact spelling first, then any case. */
static const json_t *member(const json_t *obj, const char *name)
{
    if (!json_is_object(obj))
        return NULL;
    const json_t *v = json_object_get(obj, name);
    if (v)
        return v;
    const char *key;
    json_t *x;
    json_object_foreach ((json_t *)obj, key, x)
        if (util_streq_ci(key, name))
            return x;
    return NULL;
}

static bool is_primary(const json_t *elem)
{
    return json_is_true(member(elem, "primary"));
}

/* ---- the value list ---- */

struct mx_list {
    json_t **v; /* owned references, all values (is_value) */
    size_t n, cap;
    bool multi;       /* the result is a list, not one value */
    json_t *fixed[8]; /* storage until more are needed */
};

static void list_init(struct mx_list *l)
{
    l->v = l->fixed;
    l->n = 0;
    l->cap = ARRAY_LEN(l->fixed);
    l->multi = false;
}

static bool list_full(const struct mx_list *l)
{
    return l->n >= MAPPING_EXPR_MAX_VALUES;
}

/* Appends v (steals it); NULL, non-values and overflow are dropped. */
static void list_push(struct mx_list *l, json_t *v)
{
    if (!v)
        return;
    if (!is_value(v) || list_full(l)) {
        json_decref(v);
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap * 2;
        json_t **nv = xmalloc(cap * sizeof *nv);
        memcpy(nv, l->v, l->n * sizeof *nv);
        if (l->v != l->fixed)
            free(l->v);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

static void list_drop_all(struct mx_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->v[i]);
    l->n = 0;
}

static void list_clear(struct mx_list *l)
{
    list_drop_all(l);
    if (l->v != l->fixed)
        free(l->v);
    list_init(l);
}

/* ---- freeing ---- */

static void step_clear(struct mx_step *st)
{
    free(st->name);
    for (size_t i = 0; i < st->nconds; i++) {
        free(st->conds[i].attr);
        free(st->conds[i].folded);
        json_decref(st->conds[i].value);
    }
    free(st->conds);
}

static void filter_clear(struct mx_filter *f)
{
    free(f->arg[0]);
    free(f->arg[1]);
    for (size_t i = 0; i < f->narms; i++) {
        free(f->arms[i].from);
        free(f->arms[i].from_folded);
        free(f->arms[i].to);
    }
    free(f->arms);
}

void mapping_expr_free(struct mapping_expr *e)
{
    if (!e)
        return;
    free(e->literal);
    free(e->urn);
    for (size_t i = 0; i < e->nsteps; i++)
        step_clear(&e->steps[i]);
    free(e->steps);
    for (size_t i = 0; i < e->nfilters; i++)
        filter_clear(&e->filters[i]);
    free(e->filters);
    free(e);
}

/* ---- parser ---- */

struct mx_parser {
    const char *s;                  /* the text (borrowed) */
    size_t len;                     /* its length in bytes */
    size_t pos;                     /* next byte */
    size_t err_at;                  /* byte offset of the first error */
    bool failed;                    /* an error is recorded; later ones are ignored */
    struct mapping_expr_error *err; /* where the message goes (borrowed) */
};

static bool fail(struct mx_parser *p, size_t at, const char *fmt, ...) PRINTF_LIKE(3, 4);

static bool fail(struct mx_parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return false;
    p->failed = true;
    p->err_at = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    return false;
}

static char peek(const struct mx_parser *p)
{
    return p->pos < p->len ? p->s[p->pos] : '\0';
}

static void skip_ws(struct mx_parser *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]))
        p->pos++;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

/* A word of letters and "_" (operators, filter names, keywords); returns its
 * length, 0 when there is none. */
static size_t word_at(const struct mx_parser *p)
{
    size_t n = 0;
    while (p->pos + n < p->len && (is_alpha(p->s[p->pos + n]) || p->s[p->pos + n] == '_'))
        n++;
    return n;
}

static bool word_is(const struct mx_parser *p, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(p->s + p->pos, w, n) == 0;
}

/* A quoted string at p->pos; *out is a new NUL-terminated copy. */
static bool parse_string(struct mx_parser *p, char **out, size_t *out_len)
{
    size_t start = p->pos;
    if (peek(p) != '"')
        return fail(p, p->pos, "expected a string in double quotes");
    struct strbuf b = {0};
    p->pos++;
    for (;;) {
        if (p->pos >= p->len) {
            strbuf_clear(&b);
            return fail(p, start, "unterminated string");
        }
        char c = p->s[p->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            char n = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
            if (n != '"' && n != '\\') {
                strbuf_clear(&b);
                return fail(p, p->pos,
                            "unknown escape in string: only \\\" and \\\\ are allowed");
            }
            c = n;
            p->pos++;
        }
        strbuf_putc(&b, c);
        p->pos++;
    }
    p->pos++;
    *out_len = b.len;
    *out = strbuf_detach(&b);
    return true;
}

static bool parse_name(struct mx_parser *p, char **out, const char *what)
{
    size_t start = p->pos;
    if (!is_alpha(peek(p)) && peek(p) != '$')
        return fail(p, p->pos, "expected %s", what);
    p->pos++;
    while (is_name_char(peek(p)))
        p->pos++;
    if (p->pos - start > MX_MAX_NAME)
        return fail(p, start, "name longer than %d bytes", MX_MAX_NAME);
    *out = xstrndup(p->s + start, p->pos - start);
    return true;
}

/* Skips digits from p->pos; returns how many. */
static size_t skip_digits(struct mx_parser *p)
{
    size_t from = p->pos;
    while (is_digit(peek(p)))
        p->pos++;
    return p->pos - from;
}

/* A JSON-style number: -?digits(.digits)?([eE][+-]?digits)? */
static bool parse_number(struct mx_parser *p, json_t **out)
{
    size_t start = p->pos;
    bool real = false;
    if (peek(p) == '-')
        p->pos++;
    if (!skip_digits(p))
        return fail(p, start, "expected a number");
    if (peek(p) == '.') {
        real = true;
        p->pos++;
        if (!skip_digits(p))
            return fail(p, p->pos, "expected digits after the decimal point");
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        real = true;
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!skip_digits(p))
            return fail(p, p->pos, "expected digits in the exponent");
    }
    char *text = xstrndup(p->s + start, p->pos - start);
    errno = 0;
    if (!real) {
        long long v = strtoll(text, NULL, 10);
        *out = errno ? NULL : json_integer(v);
    } else {
        double d = strtod(text, NULL);
        *out = isfinite(d) ? json_real(d) : NULL;
    }
    free(text);
    return *out || fail(p, start, "number out of range");
}

/* The comparison value of a condition. */
static bool parse_literal(struct mx_parser *p, struct mx_cond *c)
{
    char ch = peek(p);
    size_t n = word_at(p);
    if (ch == '"') {
        char *s;
        size_t len;
        if (!parse_string(p, &s, &len))
            return false;
        c->value = json_stringn(s, len);
        c->folded = fold_dup(s, len);
        c->folded_len = len;
        free(s);
        return true;
    }
    if (ch == '-' || is_digit(ch))
        return parse_number(p, &c->value);
    if (word_is(p, n, "true") || word_is(p, n, "false") || word_is(p, n, "null")) {
        c->value = word_is(p, n, "null")   ? json_null()
                   : word_is(p, n, "true") ? json_true()
                                           : json_false();
        p->pos += n;
        return true;
    }
    return fail(p, p->pos, "expected a value: a string, a number, true, false or null");
}

static bool parse_op(struct mx_parser *p, struct mx_cond *c)
{
    size_t n = word_at(p);
    for (size_t i = 0; i < ARRAY_LEN(op_names); i++) {
        if (word_is(p, n, op_names[i])) {
            c->op = (enum mx_op)i;
            p->pos += n;
            return true;
        }
    }
    if (n == 0)
        return fail(p, p->pos, "expected an operator: eq, ne, co, sw, ew or pr");
    return fail(p, p->pos, "unknown operator \"%.*s\": expected eq, ne, co, sw, ew or pr",
                (int)(n > 32 ? 32 : n), p->s + p->pos);
}

static bool parse_cond(struct mx_parser *p, struct mx_cond *c)
{
    if (!parse_name(p, &c->attr, "an attribute name"))
        return false;
    skip_ws(p);
    if (!parse_op(p, c))
        return false;
    if (c->op == MX_OP_PR)
        return true;
    skip_ws(p);
    size_t at = p->pos;
    if (!parse_literal(p, c))
        return false;
    if (c->op >= MX_OP_CO && !json_is_string(c->value))
        return fail(p, at, "%s compares with a string", op_names[c->op]);
    return true;
}

/* The conditions of a [selector], up to "]". */
static bool parse_conds(struct mx_parser *p, struct mx_step *st)
{
    st->conds = xcalloc(MX_MAX_CONDS, sizeof *st->conds);
    bool or_next = false;
    for (;;) {
        if (st->nconds == MX_MAX_CONDS)
            return fail(p, p->pos, "more than %d conditions", MX_MAX_CONDS);
        struct mx_cond *c = &st->conds[st->nconds++];
        c->or_before = or_next;
        if (!parse_cond(p, c))
            return false;
        skip_ws(p);
        if (peek(p) == ']')
            return true;
        size_t n = word_at(p);
        if (!word_is(p, n, "and") && !word_is(p, n, "or"))
            return fail(p, p->pos, "expected \"and\", \"or\" or \"]\"");
        or_next = word_is(p, n, "or");
        p->pos += n;
        skip_ws(p);
    }
}

static bool parse_selector(struct mx_parser *p, struct mx_step *st)
{
    size_t open = p->pos++;
    skip_ws(p);
    if (is_digit(peek(p))) {
        size_t start = p->pos, v = 0;
        while (is_digit(peek(p)) && p->pos - start < 6)
            v = v * 10 + (size_t)(p->s[p->pos++] - '0');
        if (is_digit(peek(p)) || v > MX_MAX_INDEX)
            return fail(p, start, "index larger than %d", MX_MAX_INDEX);
        st->sel = MX_SEL_INDEX;
        st->index = v;
    } else if (peek(p) == ']') {
        return fail(p, p->pos, "expected an index or a condition between [ and ]");
    } else {
        st->sel = MX_SEL_FILTER;
        if (!parse_conds(p, st))
            return false;
    }
    skip_ws(p);
    if (peek(p) != ']') {
        if (p->pos >= p->len)
            return fail(p, open, "unclosed \"[\"");
        return fail(p, p->pos, "expected \"]\"");
    }
    p->pos++;
    return true;
}

/* "urn:...:" before the first step: the URN runs to the last ":" of the run
 * of URN characters. */
static bool parse_urn(struct mx_parser *p, struct mapping_expr *e)
{
    size_t start = p->pos, end = p->pos, colon = 0;
    while (end < p->len && (is_name_char(p->s[end]) || strchr(":.$", p->s[end]))) {
        if (p->s[end] == ':')
            colon = end;
        end++;
    }
    if (colon <= start + 4)
        return fail(p, start, "a URN path needs the form urn:<schema>:<attribute>");
    e->urn = xstrndup(p->s + start, colon - start);
    e->urn_is_core = util_streq_ci(e->urn, SCIM_SCHEMA_USER);
    p->pos = colon + 1;
    return true;
}

static bool parse_path(struct mx_parser *p, struct mapping_expr *e)
{
    if (p->len - p->pos >= 4 && strncasecmp(p->s + p->pos, "urn:", 4) == 0 &&
        !parse_urn(p, e))
        return false;
    e->steps = xcalloc(MX_MAX_STEPS, sizeof *e->steps);
    for (;;) {
        if (e->nsteps == MX_MAX_STEPS)
            return fail(p, p->pos, "a path has at most %d steps", MX_MAX_STEPS);
        struct mx_step *st = &e->steps[e->nsteps++];
        if (!parse_name(p, &st->name, "an attribute name"))
            return false;
        if (peek(p) == '[' && !parse_selector(p, st))
            return false;
        if (peek(p) != '.')
            return true;
        p->pos++;
    }
}

/* Up to max comma-separated string arguments; the count must be exactly max. */
static bool parse_args(struct mx_parser *p, struct mx_filter *f, size_t max)
{
    const char *name = filter_defs[f->kind].name;
    size_t n = 0;
    for (;;) {
        skip_ws(p);
        if (peek(p) != '"')
            return fail(p, p->pos, "%s: expected a string argument", name);
        if (!parse_string(p, &f->arg[n], &f->arg_len[n]))
            return false;
        n++;
        skip_ws(p);
        if (peek(p) != ',')
            break;
        if (n == max)
            return fail(p, p->pos, "%s takes %zu argument%s", name, max,
                        max > 1 ? "s" : "");
        p->pos++;
    }
    if (n < max)
        return fail(p, p->pos, "%s takes %zu arguments, not %zu", name, max, n);
    return true;
}

static bool parse_arm(struct mx_parser *p, struct mx_arm *a)
{
    skip_ws(p);
    if (peek(p) == '*') {
        p->pos++;
    } else if (peek(p) == '"') {
        if (!parse_string(p, &a->from, &a->from_len))
            return false;
        a->from_folded = fold_dup(a->from, a->from_len);
    } else {
        return fail(p, p->pos, "map: expected a string or * before \"=>\"");
    }
    skip_ws(p);
    if (p->len - p->pos < 2 || strncmp(p->s + p->pos, "=>", 2) != 0)
        return fail(p, p->pos, "map: expected \"=>\"");
    p->pos += 2;
    skip_ws(p);
    if (peek(p) != '"')
        return fail(p, p->pos, "map: expected a string after \"=>\"");
    return parse_string(p, &a->to, &a->to_len);
}

static bool parse_arms(struct mx_parser *p, struct mx_filter *f)
{
    f->arms = xcalloc(MX_MAX_ARMS, sizeof *f->arms);
    for (;;) {
        skip_ws(p);
        size_t at = p->pos;
        if (f->narms == MX_MAX_ARMS)
            return fail(p, at, "map has at most %d arms", MX_MAX_ARMS);
        if (f->narms && !f->arms[f->narms - 1].from)
            return fail(p, at, "map: \"* =>\" must be the last arm");
        if (!parse_arm(p, &f->arms[f->narms++]))
            return false;
        skip_ws(p);
        if (peek(p) != ',')
            return true;
        p->pos++;
    }
}

static bool parse_filter(struct mx_parser *p, struct mx_filter *f)
{
    size_t start = p->pos, n = word_at(p), i;
    if (n == 0)
        return fail(p, p->pos, "expected a filter name after \"|\"");
    for (i = 0; i < ARRAY_LEN(filter_defs); i++)
        if (word_is(p, n, filter_defs[i].name))
            break;
    if (i == ARRAY_LEN(filter_defs))
        return fail(p, start,
                    "unknown filter \"%.*s\": expected downcase, upcase, strip, replace, "
                    "default or map",
                    (int)(n > 32 ? 32 : n), p->s + start);
    f->kind = (enum mx_kind)i;
    p->pos += n;
    bool takes = f->kind == MX_MAP || filter_defs[i].nargs > 0;
    skip_ws(p);
    if (peek(p) != ':') {
        if (takes)
            return fail(p, p->pos, "%s needs arguments after \":\"", filter_defs[i].name);
        return true;
    }
    if (!takes)
        return fail(p, p->pos, "%s takes no arguments", filter_defs[i].name);
    p->pos++;
    if (f->kind == MX_MAP)
        return parse_arms(p, f);
    if (!parse_args(p, f, filter_defs[i].nargs))
        return false;
    if (f->kind == MX_REPLACE && f->arg_len[0] == 0)
        return fail(p, start, "replace: the text to find must not be empty");
    return true;
}

static bool parse_term(struct mx_parser *p, struct mapping_expr *e)
{
    char c = peek(p);
    if (c == '"')
        return parse_string(p, &e->literal, &e->literal_len);
    if (is_alpha(c) || c == '$')
        return parse_path(p, e);
    if (p->pos >= p->len)
        return fail(p, p->pos, "expected a SCIM path or a string in double quotes");
    return fail(p, p->pos,
                "expected a SCIM path or a string in double quotes, not \"%c\"", c);
}

static bool parse_expression(struct mx_parser *p, struct mapping_expr *e)
{
    skip_ws(p);
    if (!parse_term(p, e))
        return false;
    e->filters = xcalloc(MX_MAX_FILTERS, sizeof *e->filters);
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len)
            return true;
        if (peek(p) != '|')
            return fail(p, p->pos, "expected \"|\" or the end of the expression");
        if (e->nfilters == MX_MAX_FILTERS)
            return fail(p, p->pos, "at most %d filters", MX_MAX_FILTERS);
        p->pos++;
        skip_ws(p);
        if (!parse_filter(p, &e->filters[e->nfilters++]))
            return false;
    }
}

/* 1-based character position of byte offset at. */
static size_t char_position(const char *s, size_t len, size_t at)
{
    size_t chars = 1;
    for (size_t i = 0; i < at && i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

static bool check_text(struct mx_parser *p)
{
    if (p->len > MAPPING_EXPR_MAX_LEN)
        return fail(p, MAPPING_EXPR_MAX_LEN, "expression longer than %d bytes",
                    MAPPING_EXPR_MAX_LEN);
    size_t bad = u8_first_bad(p->s, p->len);
    if (bad < p->len)
        return fail(p, bad, p->s[bad] ? "invalid UTF-8" : "NUL character");
    size_t i = 0;
    while (i < p->len && strchr(" \t\r\n", p->s[i]))
        i++;
    if (i == p->len)
        return fail(p, 0, "empty expression");
    return true;
}

/* The normalised text must respect the length limit too, or the normalised
 * document of an accepted mapping could be refused when read back. */
static bool check_normalised(struct mx_parser *p, const struct mapping_expr *e)
{
    struct strbuf b = {0};
    mapping_expr_print(e, &b);
    size_t n = b.len;
    strbuf_clear(&b);
    if (n > MAPPING_EXPR_MAX_LEN)
        return fail(p, 0, "expression longer than %d bytes once normalised (%zu)",
                    MAPPING_EXPR_MAX_LEN, n);
    return true;
}

struct mapping_expr *mapping_expr_parse(const char *text, size_t len,
                                        struct mapping_expr_error *err)
{
    struct mx_parser p = {.s = text ? text : "", .len = text ? len : 0, .err = err};
    struct mapping_expr *e = xcalloc(1, sizeof *e);
    if (check_text(&p) && parse_expression(&p, e) && check_normalised(&p, e))
        return e;
    /* Invalid UTF-8 makes the character count meaningless past the bad byte;
     * counting up to it is still right. */
    err->position = char_position(p.s, p.len, p.err_at);
    mapping_expr_free(e);
    return NULL;
}

/* ---- printer ---- */

static void print_string(struct strbuf *b, const char *s, size_t len)
{
    strbuf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            strbuf_putc(b, '\\');
        strbuf_putc(b, s[i]);
    }
    strbuf_putc(b, '"');
}

static void print_value(struct strbuf *b, const json_t *v)
{
    if (json_is_string(v)) {
        print_string(b, json_string_value(v), json_string_length(v));
    } else if (json_is_real(v)) {
        char buf[40];
        print_real(buf, sizeof buf, json_real_value(v));
        strbuf_puts(b, buf);
        if (!strpbrk(buf, ".eE"))
            strbuf_puts(b, ".0");
    } else {
        struct mx_text t;
        strbuf_puts(b, json_is_null(v) ? "null" : text_of(v, &t) ? t.s : "null");
    }
}

static void print_step(struct strbuf *b, const struct mx_step *st)
{
    strbuf_puts(b, st->name);
    if (st->sel == MX_SEL_INDEX)
        strbuf_printf(b, "[%zu]", st->index);
    if (st->sel != MX_SEL_FILTER)
        return;
    strbuf_putc(b, '[');
    for (size_t i = 0; i < st->nconds; i++) {
        const struct mx_cond *c = &st->conds[i];
        if (i)
            strbuf_puts(b, c->or_before ? " or " : " and ");
        strbuf_printf(b, "%s %s", c->attr, op_names[c->op]);
        if (c->op != MX_OP_PR) {
            strbuf_putc(b, ' ');
            print_value(b, c->value);
        }
    }
    strbuf_putc(b, ']');
}

static void print_filter(struct strbuf *b, const struct mx_filter *f)
{
    strbuf_puts(b, " | ");
    strbuf_puts(b, filter_defs[f->kind].name);
    for (size_t i = 0; i < filter_defs[f->kind].nargs; i++) {
        strbuf_puts(b, i ? ", " : ": ");
        print_string(b, f->arg[i], f->arg_len[i]);
    }
    for (size_t i = 0; i < f->narms; i++) {
        const struct mx_arm *a = &f->arms[i];
        strbuf_puts(b, i ? ", " : ": ");
        if (a->from)
            print_string(b, a->from, a->from_len);
        else
            strbuf_putc(b, '*');
        strbuf_puts(b, " => ");
        print_string(b, a->to, a->to_len);
    }
}

void mapping_expr_print(const struct mapping_expr *e, struct strbuf *out)
{
    if (e->literal) {
        print_string(out, e->literal, e->literal_len);
    } else {
        if (e->urn) {
            strbuf_puts(out, e->urn);
            strbuf_putc(out, ':');
        }
        for (size_t i = 0; i < e->nsteps; i++) {
            if (i)
                strbuf_putc(out, '.');
            print_step(out, &e->steps[i]);
        }
    }
    for (size_t i = 0; i < e->nfilters; i++)
        print_filter(out, &e->filters[i]);
}

bool mapping_expr_uses_groups(const struct mapping_expr *e)
{
    return !e->literal && (!e->urn || e->urn_is_core) &&
           util_streq_ci(e->steps[0].name, "groups");
}

/* ---- path evaluation ---- */

static bool contains_folded(const char *hay, size_t hlen, const char *needle, size_t nlen,
                            enum mx_op op)
{
    if (nlen > hlen)
        return false;
    if (op == MX_OP_SW)
        return fold_equal(hay, nlen, needle, nlen);
    if (op == MX_OP_EW)
        return fold_equal(hay + hlen - nlen, nlen, needle, nlen);
    char *buf = fold_dup(hay, hlen);
    bool found = memmem(buf, hlen, needle, nlen) != NULL;
    free(buf);
    return found;
}

/* v eq literal, with the coercions real documents need ("True" for true, 1
 * for "1" are equal as text). */
static bool cond_equal(const struct mx_cond *c, const json_t *v)
{
    if (json_is_null(c->value))
        return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
    if (json_is_number(c->value) && json_is_number(v))
        return json_number_value(c->value) == json_number_value(v);
    struct mx_text lit, val;
    if (!is_scalar(v) || !text_of(v, &val))
        return false;
    if (c->folded)
        return fold_equal(val.s, val.len, c->folded, c->folded_len);
    return text_of(c->value, &lit) && fold_equal(val.s, val.len, lit.s, lit.len);
}

static bool cond_match(const struct mx_cond *c, const json_t *elem)
{
    const json_t *v = json_is_object(elem)              ? member(elem, c->attr)
                      : util_streq_ci(c->attr, "value") ? elem
                                                        : NULL;
    struct mx_text t;
    switch (c->op) {
    case MX_OP_PR:
        return is_value(v) || (json_is_array(v) && json_array_size(v)) ||
               (json_is_object(v) && json_object_size(v));
    case MX_OP_EQ:
        return cond_equal(c, v);
    case MX_OP_NE:
        return !cond_equal(c, v);
    default:
        return is_scalar(v) && text_of(v, &t) &&
               contains_folded(t.s, t.len, c->folded, c->folded_len, c->op);
    }
}

/* The conditions in disjunctive form: "a and b or c" is (a and b) or c. */
static bool conds_match(const struct mx_step *st, const json_t *elem)
{
    bool group = true;
    for (size_t i = 0; i < st->nconds; i++) {
        if (st->conds[i].or_before) {
            if (group)
                return true;
            group = true;
        }
        group = group && cond_match(&st->conds[i], elem);
    }
    return group;
}

struct mx_walk {
    const struct mapping_expr *e; /* the expression whose path is walked */
    const json_t *groups;         /* the rendered groups array, or NULL */
    struct mx_list *out;          /* where values go */
};

static void walk(struct mx_walk *w, size_t i, const json_t *node);

/* A path's end: a scalar, or the "value" of a complex value. */
static void collect(struct mx_walk *w, const json_t *node)
{
    if (json_is_object(node))
        node = member(node, "value");
    if (is_value(node))
        list_push(w->out, json_incref((json_t *)node));
}

/* The elements of an array, those with "primary": true first. */
static void walk_elements(struct mx_walk *w, size_t next, const json_t *arr)
{
    size_t k;
    json_t *elem;
    w->out->multi = true;
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach (arr, k, elem) {
            if (list_full(w->out))
                return;
            if (is_primary(elem) == (pass == 0))
                walk(w, next, elem);
        }
}

static const json_t *first_match(const struct mx_step *st, const json_t *m)
{
    if (!json_is_array(m))
        return conds_match(st, m) ? m : NULL;
    size_t k;
    json_t *elem;
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach (m, k, elem)
            if (is_primary(elem) == (pass == 0) && conds_match(st, elem))
                return elem;
    return NULL;
}

static const json_t *step_member(const struct mx_walk *w, size_t i, const json_t *node)
{
    const char *name = w->e->steps[i].name;
    if (i == 0 && w->groups && (!w->e->urn || w->e->urn_is_core) &&
        util_streq_ci(name, "groups"))
        return w->groups;
    return member(node, name);
}

static void walk(struct mx_walk *w, size_t i, const json_t *node)
{
    if (i == w->e->nsteps) {
        collect(w, node);
        return;
    }
    const struct mx_step *st = &w->e->steps[i];
    const json_t *m = step_member(w, i, node);
    if (!m)
        return;
    switch (st->sel) {
    case MX_SEL_NONE:
        if (json_is_array(m))
            walk_elements(w, i + 1, m);
        else
            walk(w, i + 1, m);
        break;
    case MX_SEL_INDEX:
        if (json_is_array(m))
            walk(w, i + 1, json_array_get(m, st->index));
        break;
    case MX_SEL_FILTER:
        walk(w, i + 1, first_match(st, m));
        break;
    }
}

/* ---- filters ---- */

/* A new string of len bytes; NULL (missing) if they are not valid UTF-8. */
static json_t *new_text(const char *s, size_t len)
{
    return json_stringn(s, len);
}

static json_t *apply_case(json_t *v, bool upper)
{
    struct mx_text t;
    if (!text_of(v, &t))
        return v;
    char small[256];
    char *buf = t.len <= sizeof small ? small : xmalloc(t.len);
    fold_copy(buf, t.s, t.len, upper);
    json_t *out = json_is_string(v) && memcmp(buf, t.s, t.len) == 0
                      ? json_incref(v)
                      : new_text(buf, t.len);
    if (buf != small)
        free(buf);
    json_decref(v);
    return out;
}

static size_t space_at(const char *s, size_t i, size_t len)
{
    if (s[i] && strchr(" \t\n\v\f\r", s[i]))
        return 1;
    if (i + 1 < len && (unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xA0)
        return 2;
    return 0;
}

/* Length of white space ending just before s[end]. */
static size_t space_before(const char *s, size_t end)
{
    if (end >= 1 && s[end - 1] && strchr(" \t\n\v\f\r", s[end - 1]))
        return 1;
    if (end >= 2 && (unsigned char)s[end - 2] == 0xC2 &&
        (unsigned char)s[end - 1] == 0xA0)
        return 2;
    return 0;
}

static json_t *apply_strip(json_t *v)
{
    struct mx_text t;
    if (!text_of(v, &t))
        return v;
    size_t a = 0, b = t.len, n;
    while (a < b && (n = space_at(t.s, a, b)))
        a += n;
    while (b > a && (n = space_before(t.s, b)))
        b -= n;
    json_t *out = json_is_string(v) && a == 0 && b == t.len ? json_incref(v)
                                                            : new_text(t.s + a, b - a);
    json_decref(v);
    return out;
}

/* Cuts b to at most cap bytes on a character boundary. */
static void cut_at_char(struct strbuf *b, size_t cap)
{
    if (b->len <= cap)
        return;
    size_t n = cap;
    while (n > 0 && ((unsigned char)b->s[n] & 0xC0) == 0x80)
        n--;
    b->len = n;
    b->s[n] = '\0';
}

static json_t *apply_replace(json_t *v, const struct mx_filter *f)
{
    struct mx_text t;
    if (!text_of(v, &t))
        return v;
    const char *from = f->arg[0], *hit = memmem(t.s, t.len, from, f->arg_len[0]);
    if (!hit && json_is_string(v))
        return v;
    size_t cap = t.len > MX_GROWN_CAP ? t.len : MX_GROWN_CAP, at = 0;
    struct strbuf b = {0};
    strbuf_append(&b, "", 0);
    while (hit && b.len <= cap) {
        strbuf_append(&b, t.s + at, (size_t)(hit - (t.s + at)));
        strbuf_append(&b, f->arg[1], f->arg_len[1]);
        at = (size_t)(hit - t.s) + f->arg_len[0];
        hit = memmem(t.s + at, t.len - at, from, f->arg_len[0]);
    }
    if (b.len <= cap)
        strbuf_append(&b, t.s + at, t.len - at);
    cut_at_char(&b, cap);
    json_t *out = new_text(b.s, b.len);
    strbuf_clear(&b);
    json_decref(v);
    return out;
}

/* The arm of the first matching arm, in the order written. */
static const struct mx_arm *map_match(const struct mx_filter *f, const struct mx_list *l)
{
    for (size_t a = 0; a < f->narms; a++) {
        const struct mx_arm *arm = &f->arms[a];
        if (!arm->from)
            return l->n ? arm : NULL;
        for (size_t i = 0; i < l->n; i++) {
            struct mx_text t;
            if (text_of(l->v[i], &t) &&
                fold_equal(t.s, t.len, arm->from_folded, arm->from_len))
                return arm;
        }
    }
    return NULL;
}

static void apply_each(struct mx_list *l, const struct mx_filter *f)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        json_t *v = l->v[i];
        switch (f->kind) {
        case MX_DOWNCASE:
            v = apply_case(v, false);
            break;
        case MX_UPCASE:
            v = apply_case(v, true);
            break;
        case MX_STRIP:
            v = apply_strip(v);
            break;
        default:
            v = apply_replace(v, f);
            break;
        }
        if (is_value(v))
            l->v[kept++] = v;
        else
            json_decref(v);
    }
    l->n = kept;
}

static void apply_filter(struct mx_list *l, const struct mx_filter *f)
{
    if (f->kind == MX_DEFAULT) {
        if (l->n == 0)
            list_push(l, new_text(f->arg[0], f->arg_len[0]));
    } else if (f->kind == MX_MAP) {
        const struct mx_arm *arm = map_match(f, l);
        list_drop_all(l);
        l->multi = false;
        if (arm)
            list_push(l, new_text(arm->to, arm->to_len));
    } else {
        apply_each(l, f);
    }
}

/* Runs e into l (initialised by the caller). */
static void eval_list(const struct mapping_expr *e, const json_t *doc,
                      const json_t *groups, struct mx_list *l)
{
    if (e->literal) {
        list_push(l, new_text(e->literal, e->literal_len));
    } else {
        struct mx_walk w = {e, json_is_array(groups) ? groups : NULL, l};
        const json_t *root = e->urn && !e->urn_is_core ? member(doc, e->urn) : doc;
        walk(&w, 0, root);
    }
    for (size_t i = 0; i < e->nfilters; i++)
        apply_filter(l, &e->filters[i]);
}

json_t *mapping_expr_eval(const struct mapping_expr *e, const json_t *doc,
                          const json_t *groups)
{
    struct mx_list l;
    list_init(&l);
    eval_list(e, doc, groups, &l);
    json_t *out;
    if (l.multi) {
        out = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append(out, l.v[i]);
    } else {
        out = l.n ? json_incref(l.v[0]) : json_null();
    }
    list_clear(&l);
    return out;
}

json_t *mapping_expr_eval_text(const struct mapping_expr *e, const json_t *doc,
                               const json_t *groups)
{
    struct mx_list l;
    list_init(&l);
    eval_list(e, doc, groups, &l);
    json_t *out = json_null();
    struct mx_text t;
    if (l.n && json_is_string(l.v[0]))
        out = json_incref(l.v[0]);
    else if (l.n && text_of(l.v[0], &t))
        out = new_text(t.s, t.len);
    list_clear(&l);
    return out;
}
