/*
 * seq.c - the fixture replay engine: variable substitution, request assembly,
 * JSON pointer lookup, subset matching of responses and the structural check
 * of fixture files. seq.h describes the format.
 */
#include "seq.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_EXCERPT_MAX 200 /* longest JSON or body excerpt quoted in a message */
#define SEQ_RAND_BYTES  6   /* ${rand} is this many random bytes in hex */

/* One run or one validation: the variables in scope and the error sink. */
struct seq_ctx {
    json_t *vars;          /* name -> JSON value (owned); placeholders when validating */
    const char *label;     /* fixture name for messages */
    size_t step_no;        /* 1-based index of the current step; 0 outside steps */
    const char *step_name; /* borrowed from the fixture */
    const char *method;    /* method of the current request, for messages */
    const char *path;      /* full path of the current request, or NULL */
    char *err;             /* caller's message buffer; may be NULL */
    size_t errlen;         /* size of err */
    bool failed;           /* a message was recorded; later ones are dropped */
};

static const char *const seq_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
static const char *const seq_types[] = {"integer", "number", "string", "boolean",
                                        "array",   "object", "null"};
static const char *const seq_top_keys[] = {"source", "client", "base",
                                           "steps",  "vars",   "description"};
static const char *const seq_step_keys[] = {
    "name", "method", "path", "headers", "body", "raw_body", "note", "expect", "capture"};
static const char *const seq_expect_keys[] = {"status", "headers", "json", "absent",
                                              "types"};

static void fail(struct seq_ctx *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
static char *excerpt(const char *s, size_t n);
static char *dump(const json_t *v);
static bool in_list(const char *s, const char *const *list, size_t n);
static bool valid_name(const char *s, size_t n);
static char *value_text(const json_t *v);
static char *apply_filter(struct seq_ctx *c, char *val, const char *filter, size_t n);
static char *ref_value(struct seq_ctx *c, const char *tok, size_t n);
static char *expand(struct seq_ctx *c, const char *s);
static const json_t *whole_ref(const struct seq_ctx *c, const char *s);
static json_t *expand_json(struct seq_ctx *c, const json_t *v);
static bool ptr_valid(const char *ptr);
static json_t *ptr_get(json_t *doc, const char *ptr);
static void at_push(struct strbuf *at, const char *seg);
static void at_pop(struct strbuf *at, size_t len);
static const char *at_str(const struct strbuf *at);
static bool match(struct seq_ctx *c, const json_t *exp, const json_t *act,
                  struct strbuf *at, bool report);
static bool match_contains(struct seq_ctx *c, const json_t *want, const json_t *act,
                           struct strbuf *at, bool report);
static bool status_ok(const json_t *expected, int actual);
static const char *resp_header(const struct seq_response *r, const char *name);
static bool check_status(struct seq_ctx *c, const json_t *expected,
                         const struct seq_response *r);
static bool check_headers(struct seq_ctx *c, const json_t *headers,
                          const struct seq_response *r, bool no_content);
static json_t *parse_body(struct seq_ctx *c, const struct seq_response *r);
static bool check_json(struct seq_ctx *c, const json_t *expected, const json_t *doc);
static bool check_absent(struct seq_ctx *c, const json_t *absent, json_t *doc);
static bool check_types(struct seq_ctx *c, const json_t *types, json_t *doc);
static bool do_capture(struct seq_ctx *c, const json_t *capture, json_t *doc);
static bool check_response(struct seq_ctx *c, const json_t *expect, const json_t *capture,
                           const struct seq_response *r);
static bool build_body(struct seq_ctx *c, const json_t *step, char **body, size_t *len);
static bool run_step(struct seq_ctx *c, const char *base, const json_t *step,
                     seq_send_fn send, void *ctx);
static bool init_vars(struct seq_ctx *c, const json_t *vars, const char *token);
static bool only_keys(struct seq_ctx *c, const json_t *obj, const char *what,
                      const char *const *keys, size_t n);
static bool dry_string(struct seq_ctx *c, const json_t *v, const char *what);
static bool dry_pointer(struct seq_ctx *c, const char *ptr, const char *what);
static bool check_contains_syntax(struct seq_ctx *c, const json_t *v);
static bool is_status(const json_t *v);
static bool validate_status(struct seq_ctx *c, const json_t *st);
static bool validate_expect(struct seq_ctx *c, const json_t *expect);
static bool validate_request(struct seq_ctx *c, const json_t *step);
static bool validate_step(struct seq_ctx *c, const json_t *step, json_t *seen);
static bool validate_top(struct seq_ctx *c, const json_t *doc);
static bool validate(struct seq_ctx *c, const json_t *doc);
static json_t *load_fixture(struct seq_ctx *c, const char *fixture);

/* ---- messages ---------------------------------------------------------- */

/* Records the first failure as "<fixture>: step N "name" (METHOD path): ...". */
static void fail(struct seq_ctx *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    if (!c->err || c->errlen == 0)
        return;
    struct strbuf b = {0};
    strbuf_printf(&b, "%s", c->label);
    if (c->step_no) {
        strbuf_printf(&b, ": step %zu \"%s\"", c->step_no,
                      c->step_name ? c->step_name : "?");
        if (c->path)
            strbuf_printf(&b, " (%s %s)", c->method, c->path);
    }
    strbuf_puts(&b, ": ");
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s", b.s);
    strbuf_clear(&b);
}

/* The first SEQ_EXCERPT_MAX bytes of s, marked when cut; new string. */
static char *excerpt(const char *s, size_t n)
{
    if (!s)
        return xstrdup("(none)");
    if (n <= SEQ_EXCERPT_MAX)
        return xstrndup(s, n);
    char *cut = xstrndup(s, SEQ_EXCERPT_MAX);
    char *r = xasprintf("%s...", cut);
    free(cut);
    return r;
}

/* Compact JSON text of v for messages; new string. */
static char *dump(const json_t *v)
{
    if (!v)
        return xstrdup("(missing)");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return xstrdup("(unprintable)");
    char *r = excerpt(s, strlen(s));
    free(s);
    return r;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Variable names are C identifiers. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* ---- substitution ------------------------------------------------------ */

/* The text a variable stands for inside a larger string; new string. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return xstrndup(json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r = xstrdup(s ? s : "");
    free(s);
    return r;
}

/* Applies one "|filter" to val (consumed); new string or NULL after fail(). */
static char *apply_filter(struct seq_ctx *c, char *val, const char *filter, size_t n)
{
    if (n == 5 && memcmp(filter, "upper", 5) == 0) {
        for (char *p = val; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        return val;
    }
    if (n == 5 && memcmp(filter, "lower", 5) == 0) {
        for (char *p = val; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return val;
    }
    bool form = n == 4 && memcmp(filter, "form", 4) == 0;
    if (form || (n == 3 && memcmp(filter, "url", 3) == 0)) {
        /* Percent-encode all but RFC 3986 unreserved characters, so a value
         * can sit inside a query string ('+' and '@' included); "form"
         * writes a space as '+', as HTML form encoding does. */
        struct strbuf b = {0};
        strbuf_append(&b, "", 0);
        for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
            if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                strbuf_putc(&b, (char)*p);
            else if (form && *p == ' ')
                strbuf_putc(&b, '+');
            else
                strbuf_printf(&b, "%%%02X", *p);
        }
        free(val);
        return strbuf_detach(&b);
    }
    fail(c, "unknown filter |%.*s", (int)n, filter);
    free(val);
    return NULL;
}

/* The expansion of one reference body "name|f1|f2" (n bytes); new string or
 * NULL after fail(). */
static char *ref_value(struct seq_ctx *c, const char *tok, size_t n)
{
    const char *bar = memchr(tok, '|', n);
    size_t name_len = bar ? (size_t)(bar - tok) : n;
    if (!valid_name(tok, name_len)) {
        fail(c, "bad variable reference ${%.*s}", (int)n, tok);
        return NULL;
    }
    char *name = xstrndup(tok, name_len);
    const json_t *v = json_object_get(c->vars, name);
    if (!v) {
        fail(c, "unknown variable ${%s}", name);
        free(name);
        return NULL;
    }
    free(name);
    char *val = value_text(v);
    const char *end = tok + n;
    for (const char *f = bar; f && val;) {
        const char *next = memchr(f + 1, '|', (size_t)(end - f - 1));
        const char *fend = next ? next : end;
        val = apply_filter(c, val, f + 1, (size_t)(fend - f - 1));
        f = next;
    }
    return val;
}

/* Expands every ${...} in s (see seq.h); new string or NULL after fail(). */
static char *expand(struct seq_ctx *c, const char *s)
{
    struct strbuf b = {0};
    strbuf_append(&b, "", 0);
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            strbuf_append(&b, "${", 2);
            p += 3;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            strbuf_putc(&b, *p++);
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (!end) {
            fail(c, "unterminated ${ in \"%s\"", s);
            strbuf_clear(&b);
            return NULL;
        }
        char *text = ref_value(c, p + 2, (size_t)(end - p - 2));
        if (!text) {
            strbuf_clear(&b);
            return NULL;
        }
        strbuf_puts(&b, text);
        free(text);
        p = end + 1;
    }
    return strbuf_detach(&b);
}

/* When s is exactly "${name}" and name holds a non-string value, that value
 * (borrowed); otherwise NULL and s is expanded as text. */
static const json_t *whole_ref(const struct seq_ctx *c, const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || s[0] != '$' || s[1] != '{' || s[n - 1] != '}')
        return NULL;
    if (!valid_name(s + 2, n - 3))
        return NULL;
    char *name = xstrndup(s + 2, n - 3);
    const json_t *v = json_object_get(c->vars, name);
    free(name);
    return v && !json_is_string(v) ? v : NULL;
}

/* A copy of v with every string expanded (object keys are kept); new
 * reference or NULL after fail(). */
static json_t *expand_json(struct seq_ctx *c, const json_t *v)
{
    if (json_is_string(v)) {
        const json_t *raw = whole_ref(c, json_string_value(v));
        if (raw)
            return json_deep_copy(raw);
        char *s = expand(c, json_string_value(v));
        if (!s)
            return NULL;
        json_t *r = json_string(s);
        if (!r)
            fail(c, "substitution made invalid UTF-8: \"%s\"", s);
        free(s);
        return r;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            json_t *e = expand_json(c, child);
            if (!e) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, key, e);
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            json_t *e = expand_json(c, child);
            if (!e) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, e);
        }
        return out;
    }
    return json_deep_copy(v);
}

/* ---- JSON pointers (RFC 6901) ------------------------------------------ */

static bool ptr_valid(const char *ptr)
{
    if (*ptr == '\0')
        return true;
    if (*ptr != '/')
        return false;
    for (const char *p = ptr; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
    return true;
}

/* The value ptr names in doc (borrowed), or NULL. Array indexes are decimal
 * without leading zeros; "-" names nothing. */
static json_t *ptr_get(json_t *doc, const char *ptr)
{
    if (!ptr_valid(ptr))
        return NULL;
    json_t *cur = doc;
    const char *p = ptr;
    while (cur && *p == '/') {
        p++;
        struct strbuf seg = {0};
        strbuf_append(&seg, "", 0);
        for (; *p && *p != '/'; p++) {
            if (*p == '~') {
                strbuf_putc(&seg, p[1] == '1' ? '/' : '~');
                p++;
            } else {
                strbuf_putc(&seg, *p);
            }
        }
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, seg.s);
        } else if (json_is_array(cur)) {
            long long idx;
            bool canonical = seg.len == 1 || (seg.len > 1 && seg.s[0] != '0');
            if (canonical &&
                util_parse_int(seg.s, 0, (long long)json_array_size(cur) - 1, &idx))
                next = json_array_get(cur, (size_t)idx);
        }
        strbuf_clear(&seg);
        cur = next;
    }
    return cur;
}

/* ---- subset matching --------------------------------------------------- */

/* Appends "/seg" (escaped) to the pointer being built. */
static void at_push(struct strbuf *at, const char *seg)
{
    strbuf_putc(at, '/');
    for (const char *p = seg; *p; p++) {
        if (*p == '~')
            strbuf_append(at, "~0", 2);
        else if (*p == '/')
            strbuf_append(at, "~1", 2);
        else
            strbuf_putc(at, *p);
    }
}

static void at_pop(struct strbuf *at, size_t len)
{
    at->len = len;
    if (at->s)
        at->s[len] = '\0';
}

static const char *at_str(const struct strbuf *at)
{
    return at->s && at->len ? at->s : "(root)";
}

/* Each element of want must match some element of act. */
static bool match_contains(struct seq_ctx *c, const json_t *want, const json_t *act,
                           struct strbuf *at, bool report)
{
    if (!json_is_array(act)) {
        if (report) {
            char *a = dump(act);
            fail(c, "%s: expected an array, got %s", at_str(at), a);
            free(a);
        }
        return false;
    }
    size_t i, j;
    const json_t *w, *x;
    json_array_foreach(want, i, w)
    {
        bool found = false;
        json_array_foreach(act, j, x)
        {
            if (match(c, w, x, at, false)) {
                found = true;
                break;
            }
        }
        if (!found) {
            if (report) {
                char *e = dump(w), *a = dump(act);
                fail(c, "%s: no element matches %s; actual %s", at_str(at), e, a);
                free(e);
                free(a);
            }
            return false;
        }
    }
    return true;
}

/* Whether act contains exp in the sense of seq.h; at is the pointer of act.
 * With report, the first difference is recorded through fail(). */
static bool match(struct seq_ctx *c, const json_t *exp, const json_t *act,
                  struct strbuf *at, bool report)
{
    if (json_is_object(exp) && json_object_size(exp) == 1 &&
        json_is_array(json_object_get(exp, "$contains")))
        return match_contains(c, json_object_get(exp, "$contains"), act, at, report);

    bool same;
    switch (json_typeof(exp)) {
    case JSON_OBJECT:
        same = json_is_object(act);
        break;
    case JSON_ARRAY:
        same = json_is_array(act) && json_array_size(act) == json_array_size(exp);
        break;
    case JSON_STRING:
        same = json_is_string(act) && json_equal(exp, act);
        break;
    case JSON_INTEGER:
        same = json_is_integer(act) && json_integer_value(act) == json_integer_value(exp);
        break;
    case JSON_REAL:
        same = json_is_number(act) && json_number_value(act) == json_real_value(exp);
        break;
    default: /* true, false, null */
        same = json_typeof(act) == json_typeof(exp);
        break;
    }
    if (!same) {
        if (report) {
            char *e = dump(exp), *a = dump(act);
            fail(c, "%s: expected %s, got %s", at_str(at), e, a);
            free(e);
            free(a);
        }
        return false;
    }

    size_t saved = at->len;
    if (json_is_object(exp)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)exp, key, child)
        {
            at_push(at, key);
            const json_t *got = json_object_get(act, key);
            bool ok = got ? match(c, child, got, at, report) : false;
            if (!got && report) {
                char *e = dump(child);
                fail(c, "%s: missing, expected %s", at_str(at), e);
                free(e);
            }
            at_pop(at, saved);
            if (!ok)
                return false;
        }
    } else if (json_is_array(exp)) {
        size_t i;
        json_t *child;
        json_array_foreach(exp, i, child)
        {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            at_push(at, idx);
            bool ok = match(c, child, json_array_get(act, i), at, report);
            at_pop(at, saved);
            if (!ok)
                return false;
        }
    }
    return true;
}

/* ---- response checks -------------------------------------------------- */

static bool status_ok(const json_t *expected, int actual)
{
    if (json_is_integer(expected))
        return json_integer_value(expected) == actual;
    size_t i;
    const json_t *s;
    json_array_foreach(expected, i, s)
    {
        if (json_integer_value(s) == actual)
            return true;
    }
    return false;
}

/* The first response header called name (any case), or NULL. */
static const char *resp_header(const struct seq_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (util_streq_ci(r->header_names[i], name))
            return r->header_values[i];
    return NULL;
}

static bool check_status(struct seq_ctx *c, const json_t *expected,
                         const struct seq_response *r)
{
    if (status_ok(expected, r->status))
        return true;
    char *e = dump(expected), *b = excerpt(r->body, r->body_len);
    fail(c, "status: expected %s, got %d; body: %s", e, r->status, b);
    free(e);
    free(b);
    return false;
}

static bool check_headers(struct seq_ctx *c, const json_t *headers,
                          const struct seq_response *r, bool no_content)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)headers, name, v)
    {
        if (no_content && util_streq_ci(name, "Content-Type"))
            continue;
        char *want = expand(c, json_string_value(v));
        if (!want)
            return false;
        const char *got = resp_header(r, name);
        bool ok = got && util_has_prefix_ci(got, want);
        if (!ok)
            fail(c, "header %s: expected a value starting with \"%s\", got %s%s%s", name,
                 want, got ? "\"" : "", got ? got : "none", got ? "\"" : "");
        free(want);
        if (!ok)
            return false;
    }
    return true;
}

/* The response body as JSON (new reference), or NULL after fail(). */
static json_t *parse_body(struct seq_ctx *c, const struct seq_response *r)
{
    if (!r->body || r->body_len == 0) {
        fail(c, "expected a JSON body, got none (status %d)", r->status);
        return NULL;
    }
    json_error_t e;
    json_t *doc = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &e);
    if (!doc) {
        char *b = excerpt(r->body, r->body_len);
        fail(c, "response body is not JSON (%s): %s", e.text, b);
        free(b);
    }
    return doc;
}

static bool check_json(struct seq_ctx *c, const json_t *expected, const json_t *doc)
{
    if (!expected)
        return true;
    json_t *exp = expand_json(c, expected);
    if (!exp)
        return false;
    struct strbuf at = {0};
    strbuf_append(&at, "", 0);
    bool ok = match(c, exp, doc, &at, true);
    strbuf_clear(&at);
    json_decref(exp);
    return ok;
}

static bool check_absent(struct seq_ctx *c, const json_t *absent, json_t *doc)
{
    size_t i;
    const json_t *p;
    json_array_foreach(absent, i, p)
    {
        char *ptr = expand(c, json_string_value(p));
        if (!ptr)
            return false;
        const json_t *found = ptr_get(doc, ptr);
        if (found) {
            char *f = dump(found);
            fail(c, "%s: expected absent, found %s", ptr, f);
            free(f);
        }
        free(ptr);
        if (found)
            return false;
    }
    return true;
}

static bool check_types(struct seq_ctx *c, const json_t *types, json_t *doc)
{
    const char *key;
    json_t *t;
    json_object_foreach((json_t *)types, key, t)
    {
        char *ptr = expand(c, key);
        if (!ptr)
            return false;
        const json_t *v = ptr_get(doc, ptr);
        const char *want = json_string_value(t);
        bool ok;
        if (!v)
            ok = false;
        else if (strcmp(want, "integer") == 0)
            ok = json_is_integer(v);
        else if (strcmp(want, "number") == 0)
            ok = json_is_number(v);
        else if (strcmp(want, "string") == 0)
            ok = json_is_string(v);
        else if (strcmp(want, "boolean") == 0)
            ok = json_is_boolean(v);
        else if (strcmp(want, "array") == 0)
            ok = json_is_array(v);
        else if (strcmp(want, "object") == 0)
            ok = json_is_object(v);
        else
            ok = json_is_null(v);
        if (!ok) {
            char *a = dump(v);
            fail(c, "%s: expected type %s, got %s", ptr, want, a);
            free(a);
        }
        free(ptr);
        if (!ok)
            return false;
    }
    return true;
}

static bool do_capture(struct seq_ctx *c, const json_t *capture, json_t *doc)
{
    const char *name;
    json_t *p;
    json_object_foreach((json_t *)capture, name, p)
    {
        char *ptr = expand(c, json_string_value(p));
        if (!ptr)
            return false;
        const json_t *v = ptr_get(doc, ptr);
        if (!v)
            fail(c, "capture %s: %s is not in the response", name, ptr);
        else
            json_object_set_new(c->vars, name, json_deep_copy(v));
        free(ptr);
        if (!v)
            return false;
    }
    return true;
}

static bool check_response(struct seq_ctx *c, const json_t *expect, const json_t *capture,
                           const struct seq_response *r)
{
    if (!check_status(c, json_object_get(expect, "status"), r))
        return false;
    bool no_content = r->status == 204;
    if (!check_headers(c, json_object_get(expect, "headers"), r, no_content))
        return false;
    const json_t *exp_json = json_object_get(expect, "json");
    const json_t *absent = json_object_get(expect, "absent");
    const json_t *types = json_object_get(expect, "types");
    if (no_content) {
        if (capture && json_object_size(capture) > 0) {
            fail(c, "cannot capture from a 204 response");
            return false;
        }
        return true;
    }
    if (!exp_json && !absent && !types && !capture)
        return true;
    json_t *doc = parse_body(c, r);
    if (!doc)
        return false;
    bool ok = check_json(c, exp_json, doc) && check_absent(c, absent, doc) &&
              check_types(c, types, doc) && do_capture(c, capture, doc);
    json_decref(doc);
    return ok;
}

/* ---- requests --------------------------------------------------------- */

/* The request body: "body" serialised after substitution, "raw_body" as
 * text, or none. */
static bool build_body(struct seq_ctx *c, const json_t *step, char **body, size_t *len)
{
    const json_t *raw = json_object_get(step, "raw_body");
    const json_t *doc = json_object_get(step, "body");
    *body = NULL;
    *len = 0;
    if (raw) {
        *body = expand(c, json_string_value(raw));
    } else if (doc && !json_is_null(doc)) {
        json_t *e = expand_json(c, doc);
        if (!e)
            return false;
        char *s = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(e);
        if (!s)
            util_fatal("seq: cannot serialise a request body");
        *body = xstrdup(s);
        free(s);
    } else {
        return true;
    }
    if (!*body)
        return false;
    *len = strlen(*body);
    return true;
}

static bool run_step(struct seq_ctx *c, const char *base, const json_t *step,
                     seq_send_fn send, void *ctx)
{
    bool ok = false;
    struct strbuf full = {0};
    const json_t *headers = json_object_get(step, "headers");
    size_t nh = json_object_size(headers);
    const char **names = xcalloc(nh + 1, sizeof *names);
    char **values = xcalloc(nh + 1, sizeof *values);
    size_t filled = 0;
    char *body = NULL;
    size_t body_len = 0;
    struct seq_response resp = {0};

    c->step_name = json_string_value(json_object_get(step, "name"));
    c->method = json_string_value(json_object_get(step, "method"));
    char *path = expand(c, json_string_value(json_object_get(step, "path")));
    if (!path)
        goto done;
    strbuf_puts(&full, base);
    strbuf_puts(&full, path);
    c->path = full.s;

    const char *name;
    json_t *v;
    json_object_foreach((json_t *)headers, name, v)
    {
        names[filled] = name;
        values[filled] = expand(c, json_string_value(v));
        if (!values[filled])
            goto done;
        filled++;
    }
    if (!build_body(c, step, &body, &body_len))
        goto done;
    if (!send(ctx, c->method, full.s, names, (const char *const *)values, filled, body,
              body_len, &resp)) {
        fail(c, "transport error: no HTTP answer");
        goto done;
    }
    ok = check_response(c, json_object_get(step, "expect"),
                        json_object_get(step, "capture"), &resp);
done:
    c->path = NULL;
    seq_response_clear(&resp);
    free(body);
    for (size_t i = 0; i < filled; i++)
        free(values[i]);
    free(values);
    free(names);
    free(path);
    strbuf_clear(&full);
    return ok;
}

/* Seeds c->vars with ${rand} and the fixture's vars, each expanded in order. */
static bool init_vars(struct seq_ctx *c, const json_t *vars, const char *token)
{
    c->vars = json_object();
    json_object_set_new(c->vars, "rand", json_string(token));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vars, key, v)
    {
        char *s = expand(c, json_string_value(v));
        if (!s)
            return false;
        json_object_set_new(c->vars, key, json_string(s));
        free(s);
    }
    return true;
}

bool seq_run_doc(const json_t *doc, const char *label, const struct seq_opts *opts,
                 seq_send_fn send, void *ctx, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct seq_ctx c = {
        .label = label ? label : "(fixture)", .err = err, .errlen = errlen};
    bool valid = validate(&c, doc);
    json_decref(c.vars);
    c.vars = NULL;
    if (!valid)
        return false;

    char drawn[2 * SEQ_RAND_BYTES + 1];
    const char *token = opts && opts->rand ? opts->rand : drawn;
    if (token == drawn) {
        unsigned char bytes[SEQ_RAND_BYTES];
        util_random(bytes, sizeof bytes);
        util_hex(bytes, sizeof bytes, drawn);
    }
    bool ok = init_vars(&c, json_object_get(doc, "vars"), token);
    const char *base = json_string_value(json_object_get(doc, "base"));
    size_t i;
    const json_t *step;
    json_array_foreach(json_object_get(doc, "steps"), i, step)
    {
        if (!ok)
            break;
        c.step_no = i + 1;
        ok = run_step(&c, base, step, send, ctx);
    }
    json_decref(c.vars);
    return ok;
}

/* ---- validation -------------------------------------------------------- */

static bool only_keys(struct seq_ctx *c, const json_t *obj, const char *what,
                      const char *const *keys, size_t n)
{
    if (!json_is_object(obj)) {
        fail(c, "%s must be an object", what);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!in_list(key, keys, n)) {
            fail(c, "%s: unknown key \"%s\"", what, key);
            return false;
        }
    }
    return true;
}

/* v must be a string whose references all resolve. */
static bool dry_string(struct seq_ctx *c, const json_t *v, const char *what)
{
    if (!json_is_string(v)) {
        fail(c, "%s must be a string", what);
        return false;
    }
    char *s = expand(c, json_string_value(v));
    bool ok = s != NULL;
    free(s);
    return ok;
}

/* ptr must resolve and be a JSON pointer. */
static bool dry_pointer(struct seq_ctx *c, const char *ptr, const char *what)
{
    char *s = expand(c, ptr);
    if (!s)
        return false;
    bool ok = ptr_valid(s);
    if (!ok)
        fail(c, "%s: \"%s\" is not a JSON pointer", what, ptr);
    free(s);
    return ok;
}

/* Every "$contains" object has exactly that key and an array value. */
static bool check_contains_syntax(struct seq_ctx *c, const json_t *v)
{
    if (json_is_object(v)) {
        const json_t *want = json_object_get(v, "$contains");
        if (want && (json_object_size(v) != 1 || !json_is_array(want))) {
            fail(c, "expect.json: \"$contains\" must be the only key and hold an array");
            return false;
        }
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            if (!check_contains_syntax(c, child))
                return false;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            if (!check_contains_syntax(c, child))
                return false;
        }
    }
    return true;
}

/* One HTTP status code. */
static bool is_status(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 100 &&
           json_integer_value(v) <= 599;
}

static bool validate_status(struct seq_ctx *c, const json_t *st)
{
    bool ok = is_status(st) || (json_is_array(st) && json_array_size(st) > 0);
    size_t i;
    const json_t *s;
    if (json_is_array(st)) {
        json_array_foreach(st, i, s)
        {
            ok = ok && is_status(s);
        }
    }
    if (!ok)
        fail(c, "expect.status must be an HTTP status or a non-empty array of them");
    return ok;
}

static bool validate_expect(struct seq_ctx *c, const json_t *expect)
{
    if (!expect) {
        fail(c, "step has no expect");
        return false;
    }
    if (!only_keys(c, expect, "expect", seq_expect_keys, ARRAY_LEN(seq_expect_keys)))
        return false;
    if (!validate_status(c, json_object_get(expect, "status")))
        return false;
    const json_t *headers = json_object_get(expect, "headers");
    const char *key;
    json_t *v;
    size_t i;
    if (headers && !json_is_object(headers)) {
        fail(c, "expect.headers must be an object");
        return false;
    }
    json_object_foreach((json_t *)headers, key, v)
    {
        if (!dry_string(c, v, "expect.headers value"))
            return false;
    }
    const json_t *exp_json = json_object_get(expect, "json");
    if (exp_json) {
        if (!check_contains_syntax(c, exp_json))
            return false;
        json_t *e = expand_json(c, exp_json);
        if (!e)
            return false;
        json_decref(e);
    }
    const json_t *absent = json_object_get(expect, "absent");
    if (absent && !json_is_array(absent)) {
        fail(c, "expect.absent must be an array of JSON pointers");
        return false;
    }
    json_array_foreach(absent, i, v)
    {
        if (!json_is_string(v)) {
            fail(c, "expect.absent must be an array of JSON pointers");
            return false;
        }
        if (!dry_pointer(c, json_string_value(v), "expect.absent"))
            return false;
    }
    const json_t *types = json_object_get(expect, "types");
    if (types && !json_is_object(types)) {
        fail(c, "expect.types must be an object");
        return false;
    }
    json_object_foreach((json_t *)types, key, v)
    {
        if (!dry_pointer(c, key, "expect.types"))
            return false;
        if (!json_is_string(v) ||
            !in_list(json_string_value(v), seq_types, ARRAY_LEN(seq_types))) {
            fail(c, "expect.types[%s]: unknown type", key);
            return false;
        }
    }
    return true;
}

static bool validate_request(struct seq_ctx *c, const json_t *step)
{
    const json_t *method = json_object_get(step, "method");
    if (!json_is_string(method) ||
        !in_list(json_string_value(method), seq_methods, ARRAY_LEN(seq_methods))) {
        fail(c, "method must be one of GET POST PUT PATCH DELETE");
        return false;
    }
    const json_t *path = json_object_get(step, "path");
    if (!json_is_string(path) || json_string_value(path)[0] != '/') {
        fail(c, "path must be a string starting with /");
        return false;
    }
    if (!dry_string(c, path, "path"))
        return false;
    const json_t *headers = json_object_get(step, "headers");
    if (headers && !json_is_object(headers)) {
        fail(c, "headers must be an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)headers, key, v)
    {
        if (!dry_string(c, v, "header value"))
            return false;
    }
    const json_t *body = json_object_get(step, "body");
    const json_t *raw = json_object_get(step, "raw_body");
    if (body && raw) {
        fail(c, "a step has body or raw_body, not both");
        return false;
    }
    if (raw && !dry_string(c, raw, "raw_body"))
        return false;
    if (body) {
        json_t *e = expand_json(c, body);
        if (!e)
            return false;
        json_decref(e);
    }
    const json_t *note = json_object_get(step, "note");
    if (note && !json_is_string(note)) {
        fail(c, "note must be a string");
        return false;
    }
    return true;
}

/* seen collects step names, which must be unique. */
static bool validate_step(struct seq_ctx *c, const json_t *step, json_t *seen)
{
    if (!only_keys(c, step, "step", seq_step_keys, ARRAY_LEN(seq_step_keys)))
        return false;
    const json_t *name = json_object_get(step, "name");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        fail(c, "step needs a non-empty name");
        return false;
    }
    c->step_name = json_string_value(name);
    if (json_object_get(seen, c->step_name)) {
        fail(c, "duplicate step name");
        return false;
    }
    json_object_set_new(seen, c->step_name, json_true());
    if (!validate_request(c, step) ||
        !validate_expect(c, json_object_get(step, "expect")))
        return false;

    const json_t *capture = json_object_get(step, "capture");
    if (capture && !json_is_object(capture)) {
        fail(c, "capture must be an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)capture, key, v)
    {
        if (!valid_name(key, strlen(key)) || strcmp(key, "rand") == 0) {
            fail(c, "capture: bad variable name \"%s\"", key);
            return false;
        }
        if (!json_is_string(v) || !dry_pointer(c, json_string_value(v), "capture")) {
            fail(c, "capture %s: value must be a JSON pointer", key);
            return false;
        }
    }
    /* Captured names become known only after the step that captures them. */
    json_object_foreach((json_t *)capture, key, v)
    {
        json_object_set_new(c->vars, key, json_string("x"));
    }
    return true;
}

static bool validate_top(struct seq_ctx *c, const json_t *doc)
{
    if (!only_keys(c, doc, "fixture", seq_top_keys, ARRAY_LEN(seq_top_keys)))
        return false;
    const json_t *source = json_object_get(doc, "source");
    if (!json_is_string(source) || json_string_length(source) == 0) {
        fail(c, "source must name where the sequence is documented");
        return false;
    }
    const char *client = json_string_value(json_object_get(doc, "client"));
    const char *base = json_string_value(json_object_get(doc, "base"));
    const char *want;
    if (client && (strcmp(client, "okta") == 0 || strcmp(client, "entra") == 0)) {
        want = "/scim/v2";
    } else if (client && strcmp(client, "okta-v1") == 0) {
        want = "/scim/v1";
    } else {
        fail(c, "client must be okta, okta-v1 or entra");
        return false;
    }
    if (!base || strcmp(base, want) != 0) {
        fail(c, "base must be %s for client %s", want, client);
        return false;
    }
    const json_t *desc = json_object_get(doc, "description");
    if (desc && !json_is_string(desc)) {
        fail(c, "description must be a string");
        return false;
    }
    const json_t *steps = json_object_get(doc, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0) {
        fail(c, "steps must be a non-empty array");
        return false;
    }
    return true;
}

/* Structure and references of the whole fixture; c->vars ends up holding a
 * placeholder for every name the fixture defines (owned by c). */
static bool validate(struct seq_ctx *c, const json_t *doc)
{
    c->vars = json_object();
    json_object_set_new(c->vars, "rand", json_string("x"));
    if (!validate_top(c, doc))
        return false;
    const json_t *vars = json_object_get(doc, "vars");
    if (vars && !json_is_object(vars)) {
        fail(c, "vars must be an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vars, key, v)
    {
        if (!valid_name(key, strlen(key)) || strcmp(key, "rand") == 0) {
            fail(c, "vars: bad variable name \"%s\"", key);
            return false;
        }
        if (!dry_string(c, v, "vars value"))
            return false;
        json_object_set_new(c->vars, key, json_string("x"));
    }
    json_t *seen = json_object();
    bool ok = true;
    size_t i;
    const json_t *step;
    json_array_foreach(json_object_get(doc, "steps"), i, step)
    {
        c->step_no = i + 1;
        c->step_name = NULL;
        ok = validate_step(c, step, seen);
        if (!ok)
            break;
    }
    c->step_no = 0;
    c->step_name = NULL;
    json_decref(seen);
    return ok;
}

bool seq_validate(const json_t *doc, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct seq_ctx c = {.label = "(fixture)", .err = err, .errlen = errlen};
    bool ok = validate(&c, doc);
    json_decref(c.vars);
    return ok;
}

/* FIXTURES_DIR/fixture as JSON (new reference; duplicate keys rejected), or
 * NULL after fail(). */
static json_t *load_fixture(struct seq_ctx *c, const char *fixture)
{
    char *path = xasprintf("%s/%s", FIXTURES_DIR, fixture);
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!doc)
        fail(c, "cannot load %s: %s at line %d", path, e.text, e.line);
    free(path);
    return doc;
}

bool seq_validate_file(const char *fixture, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct seq_ctx c = {.label = fixture, .err = err, .errlen = errlen};
    json_t *doc = load_fixture(&c, fixture);
    if (!doc)
        return false;
    bool ok = validate(&c, doc);
    json_decref(c.vars);
    json_decref(doc);
    return ok;
}

bool seq_run(const char *fixture, seq_send_fn send, void *ctx, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    struct seq_ctx c = {.label = fixture, .err = err, .errlen = errlen};
    json_t *doc = load_fixture(&c, fixture);
    if (!doc)
        return false;
    bool ok = seq_run_doc(doc, fixture, NULL, send, ctx, err, errlen);
    json_decref(doc);
    return ok;
}

/* ---- responses --------------------------------------------------------- */

void seq_response_add_header(struct seq_response *r, const char *name, const char *value)
{
    r->header_names =
        xrealloc(r->header_names, (r->nheaders + 1) * sizeof *r->header_names);
    r->header_values =
        xrealloc(r->header_values, (r->nheaders + 1) * sizeof *r->header_values);
    r->header_names[r->nheaders] = xstrdup(name);
    r->header_values[r->nheaders] = xstrdup(value);
    r->nheaders++;
}

void seq_response_set_body(struct seq_response *r, const char *data, size_t len)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    if (len == 0)
        return;
    r->body = xmalloc(len + 1);
    memcpy(r->body, data, len);
    r->body[len] = '\0';
    r->body_len = len;
}

void seq_response_clear(struct seq_response *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    free(r->header_names);
    free(r->header_values);
    free(r->body);
    memset(r, 0, sizeof *r);
}
