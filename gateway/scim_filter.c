/*
 * scim_filter.c - SCIM filters and PATCH paths: a recursive-descent parser for
 * the grammar of RFC 7644 sections 3.4.2.2 and 3.5.2, evaluation of a parsed
 * filter against JSON documents, and its compilation into a parameterised SQL
 * boolean expression over text columns, membership rows and the jsonb
 * document.
 *
 * One semantics, two evaluators. scim_filter_match and scim_filter_to_sql give
 * the same answer for the same resource:
 *  - a comparison holds when some value at its path satisfies it: the values
 *    of a path are the attribute (or, for a multi-valued one, each element),
 *    and with a sub-attribute the sub-attribute of each of those; a missing
 *    attribute has no values, so every comparison on it is false;
 *  - "pr" holds when some value is not null, not "", not [] and not {};
 *    "eq null" is "not pr" and "ne null" is "pr";
 *  - "ne" holds when some value of the right type differs (a missing
 *    attribute is not "ne" anything; use "not (x eq v)" for that);
 *  - "not" is plain negation: "not (title eq "x")" matches a user without a
 *    title. In SQL every expression is true exactly when the filter matches
 *    (NULL counts as no match), and "not" is written "(...) IS NOT TRUE";
 *  - strings compare by the attribute's caseExact (unknown attributes are not
 *    case-exact) with ASCII case folding, ordering is by bytes (SQL adds
 *    COLLATE "C"); dateTime values compare as instants at millisecond
 *    precision; numbers numerically; booleans only with eq and ne; a value of
 *    another JSON type than the filter's value never matches.
 */
#include "scim_filter.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Instants util_format_rfc3339 and PostgreSQL both handle: years 1 to 9999. */
#define FILTER_MIN_MS (-62135596800000LL)
#define FILTER_MAX_MS 253402300799999LL
/* Longest name or value echoed back in an error detail. */
#define ECHO_MAX 64

/* Schema URNs that split a qualified path even when the parse is untyped. */
static const char *const filter_known_urns[] = {
    SCIM_SCHEMA_USER,
    SCIM_SCHEMA_GROUP,
    SCIM_SCHEMA_ENTERPRISE,
};

/* ------------------------------------------------------------------------ */
/* Parser state and errors                                                  */
/* ------------------------------------------------------------------------ */

struct parser {
    const char *s;                       /* the whole input */
    size_t len;                          /* its length in bytes */
    size_t pos;                          /* byte offset of the next unread character */
    int depth;                           /* open parentheses, "not"s and brackets */
    const struct scim_resource_type *rt; /* resolves attribute names, or NULL */
    const struct scim_attr_path *outer;  /* attribute of the open "[...]", or NULL */
    const char *scim_type;               /* scimType of errors (static string) */
    struct scim_error *err;              /* receives the first error */
};

static struct scim_filter *parse_or(struct parser *p);
static struct scim_filter *parse_and(struct parser *p);
static bool match_node(const struct scim_filter *f, const json_t *obj);

/* The 1-based character (not byte) position of byte offset at. */
static size_t char_position(const struct parser *p, size_t at)
{
    size_t n = 1;
    for (size_t i = 0; i < at && i < p->len; i++)
        if (((unsigned char)p->s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static bool perr(struct parser *p, size_t at, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Sets a 400 error whose detail ends with the position; returns false. */
static bool perr(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return scim_error_set(p->err, 400, p->scim_type, "%s at position %zu", msg,
                          char_position(p, at));
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ATTRNAME = ALPHA *(nameChar); "$" admits "$ref" (RFC 7643 section 2.1). */
static bool is_name_start(char c)
{
    return is_alpha(c) || c == '$';
}

static bool is_name_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '$';
}

/* Characters of a whole attribute path token, URN included. */
static bool is_path_char(char c)
{
    return is_name_char(c) || c == '.' || c == ':';
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool at_end(const struct parser *p)
{
    return p->pos >= p->len;
}

static char peek(const struct parser *p)
{
    return at_end(p) ? '\0' : p->s[p->pos];
}

static void skip_ws(struct parser *p)
{
    while (!at_end(p) && is_ws(p->s[p->pos]))
        p->pos++;
}

/* Length of the run of name characters at byte offset at. */
static size_t word_len(const struct parser *p, size_t at)
{
    size_t n = 0;
    while (at + n < p->len && is_name_char(p->s[at + n]))
        n++;
    return n;
}

/* True when the word at p->pos is kw, case-insensitively. */
static bool at_keyword(const struct parser *p, const char *kw)
{
    size_t n = word_len(p, p->pos);
    return n == strlen(kw) && strncasecmp(p->s + p->pos, kw, n) == 0;
}

/* "not" is a keyword only when an opening parenthesis follows it. */
static bool at_not(const struct parser *p)
{
    if (!at_keyword(p, "not"))
        return false;
    size_t i = p->pos + 3;
    while (i < p->len && is_ws(p->s[i]))
        i++;
    return i < p->len && p->s[i] == '(';
}

/* Whether a "not" without "(" is an attribute named "not": only when an
 * operator follows it ("not eq 1"), never as in "not title pr". */
static bool not_is_attribute(const struct parser *p)
{
    static const char *const ops[] = {"eq", "ne", "co", "sw", "ew",
                                      "pr", "gt", "ge", "lt", "le"};
    size_t i = p->pos + 3;
    if (i < p->len && (p->s[i] == '.' || p->s[i] == '['))
        return true;
    while (i < p->len && is_ws(p->s[i]))
        i++;
    size_t n = word_len(p, i);
    for (size_t k = 0; n == 2 && k < ARRAY_LEN(ops); k++)
        if (strncasecmp(p->s + i, ops[k], 2) == 0)
            return true;
    return false;
}

/* Describes the character at byte offset at for an error detail. */
static const char *char_desc(const struct parser *p, size_t at, char *buf, size_t n)
{
    unsigned char c = at < p->len ? (unsigned char)p->s[at] : 0;
    if (at >= p->len)
        snprintf(buf, n, "end of input");
    else if (c == ' ')
        snprintf(buf, n, "space");
    else if (c == '\'')
        snprintf(buf, n, "\"'\"");
    else if (c >= 0x21 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static bool enter(struct parser *p, size_t at)
{
    if (p->depth >= SCIM_FILTER_MAX_DEPTH)
        return perr(p, at, "filter nested deeper than %d levels", SCIM_FILTER_MAX_DEPTH);
    p->depth++;
    return true;
}

/* Consumes the closing character of a group opened at byte offset open. */
static bool expect_close(struct parser *p, char close, size_t open)
{
    char d[32];
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        p->depth--;
        return true;
    }
    if (at_end(p))
        return perr(p, open, "unbalanced '%c': missing '%c'", p->s[open], close);
    return perr(p, p->pos, "unexpected %s, expected '%c'",
                char_desc(p, p->pos, d, sizeof d), close);
}

/* ------------------------------------------------------------------------ */
/* Trees and paths                                                          */
/* ------------------------------------------------------------------------ */

static struct scim_filter *node_new(enum scim_filter_op op)
{
    struct scim_filter *f = xcalloc(1, sizeof *f);
    f->op = op;
    return f;
}

static void path_clear(struct scim_attr_path *path)
{
    free(path->urn);
    free(path->attr);
    free(path->sub);
    memset(path, 0, sizeof *path);
}

void scim_filter_free(struct scim_filter *f)
{
    if (!f)
        return;
    scim_filter_free(f->left);
    scim_filter_free(f->right);
    path_clear(&f->path);
    json_decref(f->value);
    free(f);
}

static const char *op_name(enum scim_filter_op op)
{
    static const char *const names[] = {
        [SCIM_OP_EQ] = "eq",   [SCIM_OP_NE] = "ne",         [SCIM_OP_CO] = "co",
        [SCIM_OP_SW] = "sw",   [SCIM_OP_EW] = "ew",         [SCIM_OP_PR] = "pr",
        [SCIM_OP_GT] = "gt",   [SCIM_OP_GE] = "ge",         [SCIM_OP_LT] = "lt",
        [SCIM_OP_LE] = "le",   [SCIM_OP_AND] = "and",       [SCIM_OP_OR] = "or",
        [SCIM_OP_NOT] = "not", [SCIM_OP_VALUE_PATH] = "[]",
    };
    return (size_t)op < ARRAY_LEN(names) && names[op] ? names[op] : "?";
}

static bool op_is_substring(enum scim_filter_op op)
{
    return op == SCIM_OP_CO || op == SCIM_OP_SW || op == SCIM_OP_EW;
}

static bool op_is_ordering(enum scim_filter_op op)
{
    return op == SCIM_OP_GT || op == SCIM_OP_GE || op == SCIM_OP_LT || op == SCIM_OP_LE;
}

/* The definition a comparison on path applies to, or NULL when unknown. */
static const struct scim_attr *path_def(const struct scim_attr_path *path)
{
    if (path->sub)
        return path->sub_def;
    return path->attr_def;
}

/* Whether strings of def compare case-sensitively: caseExact, and always for
 * binary values (base64, RFC 7643 section 2.3.6). Unknown attributes do not. */
static bool def_case_exact(const struct scim_attr *def)
{
    return def && (def->case_exact || def->type == SCIM_TYPE_BINARY);
}

/* Canonical names where known, as written otherwise. */
static const char *path_attr_name(const struct scim_attr_path *path)
{
    return path->attr_def ? path->attr_def->name : path->attr;
}

static const char *path_sub_name(const struct scim_attr_path *path)
{
    return path->sub_def ? path->sub_def->name : path->sub;
}

/* The document key holding an extension attribute. */
static const char *path_ext_key(const struct scim_attr_path *path)
{
    return path->schema ? path->schema->id : path->urn;
}

/* "attr" or "attr.sub" as written, for error details. */
static const char *path_display(const struct scim_attr_path *path, char *buf, size_t n)
{
    if (path->sub)
        snprintf(buf, n, "%.*s.%.*s", ECHO_MAX, path->attr, ECHO_MAX, path->sub);
    else
        snprintf(buf, n, "%.*s", ECHO_MAX, path->attr);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Attribute paths: lexing and resolution                                   */
/* ------------------------------------------------------------------------ */

static bool prefix_ci_n(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* k when tok[0..n) is urn, or urn followed by ':' and more, else 0. */
static size_t urn_match(const char *tok, size_t n, const char *urn)
{
    size_t k = strlen(urn);
    return prefix_ci_n(tok, n, urn) && (n == k || tok[k] == ':') ? k : 0;
}

/* Length of the longest known schema URN that tok[0..n) starts with; 0 when
 * none. Known: the well-known URNs and those of the resource type. */
static size_t known_urn_len(const struct parser *p, const char *tok, size_t n)
{
    size_t best = 0, k;
    for (size_t i = 0; i < ARRAY_LEN(filter_known_urns); i++)
        if ((k = urn_match(tok, n, filter_known_urns[i])) > best)
            best = k;
    if (!p->rt)
        return best;
    if ((k = urn_match(tok, n, p->rt->schema->id)) > best)
        best = k;
    for (const struct scim_schema *const *e = p->rt->extensions; e && *e; e++)
        if ((k = urn_match(tok, n, (*e)->id)) > best)
            best = k;
    return best;
}

/* Splits a token starting with "urn:" into URN and the rest; returns the
 * URN's length (the rest starts after one more byte, the colon). */
static bool split_urn(struct parser *p, size_t start, size_t n, size_t *urn_len)
{
    const char *tok = p->s + start;
    size_t k = known_urn_len(p, tok, n);
    if (k == 0) {
        for (size_t i = n; i > 0; i--)
            if (tok[i - 1] == ':') {
                k = i - 1;
                break;
            }
        if (k <= 3)
            return perr(p, start, "invalid schema URN");
    }
    if (k + 1 >= n)
        return perr(p, start + n, "missing attribute name after the schema URN");
    *urn_len = k;
    return true;
}

/* Checks that tok[0..n) is a valid ATTRNAME. */
static bool check_name(struct parser *p, size_t at, size_t n)
{
    if (n == 0 || !is_name_start(p->s[at]))
        return perr(p, at, "expected an attribute name");
    for (size_t i = 1; i < n; i++)
        if (!is_name_char(p->s[at + i]))
            return perr(p, at + i, "invalid character in attribute name");
    return true;
}

/* Splits "attr" or "attr.sub" at [at, at+n) into path. */
static bool split_attr(struct parser *p, size_t at, size_t n, struct scim_attr_path *path)
{
    const char *s = p->s + at;
    const char *dot = memchr(s, '.', n);
    size_t an = dot ? (size_t)(dot - s) : n;
    if (!check_name(p, at, an))
        return false;
    path->attr = xstrndup(s, an);
    if (!dot)
        return true;
    size_t sn = n - an - 1;
    const char *dot2 = memchr(dot + 1, '.', sn);
    if (dot2)
        return perr(p, at + (size_t)(dot2 - s), "at most one sub-attribute per path");
    if (!check_name(p, at + an + 1, sn))
        return false;
    path->sub = xstrndup(dot + 1, sn);
    return true;
}

/* Reads "[URN:]attr[.sub]" at p->pos into path (new strings). */
static bool parse_path_token(struct parser *p, struct scim_attr_path *path)
{
    size_t start = p->pos;
    while (!at_end(p) && is_path_char(p->s[p->pos]))
        p->pos++;
    size_t n = p->pos - start;
    if (n == 0 || !is_name_start(p->s[start]))
        return perr(p, start, "expected an attribute name");
    if (!prefix_ci_n(p->s + start, n, "urn:")) {
        if (memchr(p->s + start, ':', n))
            return perr(p, start,
                        "a schema-qualified attribute must start with \"urn:\"");
        return split_attr(p, start, n, path);
    }
    size_t k = 0;
    if (!split_urn(p, start, n, &k))
        return false;
    path->urn = xstrndup(p->s + start, k);
    return split_attr(p, start + k + 1, n - k - 1, path);
}

static bool is_core_urn(const char *urn)
{
    return util_streq_ci(urn, SCIM_SCHEMA_USER) || util_streq_ci(urn, SCIM_SCHEMA_GROUP);
}

/* Resolves the sub-attribute of a complex definition. */
static bool resolve_sub(struct parser *p, size_t at, const struct scim_attr *def,
                        const char *sub, const struct scim_attr **out)
{
    if (def->type != SCIM_TYPE_COMPLEX)
        return perr(p, at, "attribute \"%s\" has no sub-attributes", def->name);
    *out = scim_attr_sub(def, sub);
    if (!*out)
        return perr(p, at, "unknown sub-attribute \"%.*s\" of \"%s\"", ECHO_MAX, sub,
                    def->name);
    return true;
}

/* Resolves a path inside "[...]": its names are sub-attributes of p->outer. */
static bool resolve_inner(struct parser *p, struct scim_attr_path *path, size_t at)
{
    const struct scim_attr_path *outer = p->outer;
    if (path->urn)
        return perr(p, at, "a schema URN is not allowed inside '[...]'");
    path->schema = outer->schema;
    if (!outer->attr_def)
        return true;
    if (!resolve_sub(p, at, outer->attr_def, path->attr, &path->attr_def))
        return false;
    if (path->sub)
        return perr(p, at, "sub-attribute \"%s\" of \"%s\" has no sub-attributes",
                    path->attr_def->name, outer->attr_def->name);
    return true;
}

/* Resolves an unqualified name: the core schema first, then the extensions. */
static bool resolve_unqualified(struct parser *p, struct scim_attr_path *path, size_t at)
{
    const struct scim_resource_type *rt = p->rt;
    path->attr_def = scim_schema_attr(rt->schema, path->attr);
    if (path->attr_def) {
        path->schema = rt->schema;
        return true;
    }
    for (const struct scim_schema *const *e = rt->extensions; e && *e; e++) {
        path->attr_def = scim_schema_attr(*e, path->attr);
        if (path->attr_def) {
            path->schema = *e;
            path->in_extension = true;
            return true;
        }
    }
    return perr(p, at, "unknown attribute \"%.*s\"", ECHO_MAX, path->attr);
}

/* Resolves a URN-qualified name; any name is accepted under an unknown URN. */
static bool resolve_qualified(struct parser *p, struct scim_attr_path *path, size_t at)
{
    const struct scim_resource_type *rt = p->rt;
    path->schema = scim_rt_schema(rt, path->urn);
    if (!path->schema) {
        if (scim_schema_find(path->urn))
            return perr(p, at, "schema \"%.*s\" does not apply to %s resources",
                        2 * ECHO_MAX, path->urn, rt->name);
        path->in_extension = true;
        return true;
    }
    path->in_extension = path->schema != rt->schema;
    path->attr_def = scim_schema_attr(path->schema, path->attr);
    if (!path->attr_def)
        return perr(p, at, "unknown attribute \"%.*s\" in schema \"%s\"", ECHO_MAX,
                    path->attr, path->schema->id);
    return true;
}

/* Fills the schema and definitions of path (parsed at byte offset at). */
static bool resolve_path(struct parser *p, struct scim_attr_path *path, size_t at)
{
    if (p->outer)
        return resolve_inner(p, path, at);
    if (!p->rt) {
        path->in_extension = path->urn && !is_core_urn(path->urn);
        return true;
    }
    if (!(path->urn ? resolve_qualified(p, path, at) : resolve_unqualified(p, path, at)))
        return false;
    if (path->sub && path->attr_def)
        return resolve_sub(p, at, path->attr_def, path->sub, &path->sub_def);
    return true;
}

/* Reads ".name" after "]" (a sub-attribute of the value path's attribute). */
static bool parse_sub_after(struct parser *p, const struct scim_attr_path *outer,
                            char **name, const struct scim_attr **def)
{
    size_t at = ++p->pos;
    size_t n = word_len(p, at);
    if (!check_name(p, at, n))
        return false;
    *name = xstrndup(p->s + at, n);
    p->pos += n;
    if (peek(p) == '.' || peek(p) == ':' || peek(p) == '[')
        return perr(p, p->pos, "unexpected '%c' after the sub-attribute", peek(p));
    if (outer->attr_def)
        return resolve_sub(p, at, outer->attr_def, *name, def);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at p->pos (pointing at the backslash). */
static bool parse_hex4(struct parser *p, unsigned *out)
{
    size_t at = p->pos;
    if (p->pos + 6 > p->len || p->s[p->pos + 1] != 'u')
        return perr(p, at, "invalid \\u escape");
    unsigned v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hex_value(p->s[p->pos + i]);
        if (h < 0)
            return perr(p, at, "invalid \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->pos += 6;
    *out = v;
    return true;
}

static void put_utf8(struct strbuf *b, unsigned cp)
{
    if (cp < 0x80) {
        strbuf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        strbuf_putc(b, (char)(0xc0 | (cp >> 6)));
        strbuf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        strbuf_putc(b, (char)(0xe0 | (cp >> 12)));
        strbuf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        strbuf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        strbuf_putc(b, (char)(0xf0 | (cp >> 18)));
        strbuf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        strbuf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        strbuf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/* Decodes "\uXXXX" (with a surrogate pair when needed) at p->pos. */
static bool parse_unicode_escape(struct parser *p, struct strbuf *b)
{
    size_t at = p->pos;
    unsigned cp, lo;
    if (!parse_hex4(p, &cp))
        return false;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return perr(p, at, "unpaired surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (peek(p) != '\\' || !parse_hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return perr(p, at, "unpaired surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0)
        return perr(p, at, "\\u0000 is not allowed in a string");
    put_utf8(b, cp);
    return true;
}

/* Decodes one escape sequence at p->pos (pointing at the backslash). */
static bool parse_escape(struct parser *p, struct strbuf *b)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    char c = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
    if (c == 'u')
        return parse_unicode_escape(p, b);
    const char *k = c ? strchr(from, c) : NULL;
    if (!k)
        return perr(p, p->pos, "invalid escape sequence in string");
    strbuf_putc(b, to[k - from]);
    p->pos += 2;
    return true;
}

/* A JSON string (RFC 8259) at p->pos; *out is a new reference. */
static bool parse_string(struct parser *p, json_t **out)
{
    size_t open = p->pos++;
    struct strbuf b = {0};
    bool ok = true;
    while (ok) {
        if (at_end(p)) {
            ok = perr(p, open, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"')
            break;
        if (c < 0x20)
            ok = perr(p, p->pos, "control character in string (escape it)");
        else if (c == '\\')
            ok = parse_escape(p, &b);
        else
            strbuf_putc(&b, p->s[p->pos++]);
    }
    if (ok && !util_utf8_valid(b.s ? b.s : "", b.len))
        ok = perr(p, open, "string is not valid UTF-8");
    if (ok) {
        p->pos++;
        *out = json_stringn(b.s ? b.s : "", b.len);
    }
    strbuf_clear(&b);
    return ok;
}

static void skip_digits(struct parser *p)
{
    while (!at_end(p) && is_digit(p->s[p->pos]))
        p->pos++;
}

/* Advances over a JSON number; *is_int tells whether it had no fraction or
 * exponent. */
static bool scan_number(struct parser *p, bool *is_int)
{
    size_t start = p->pos;
    *is_int = true;
    if (peek(p) == '-')
        p->pos++;
    if (!is_digit(peek(p)))
        return perr(p, start, "invalid number");
    if (peek(p) == '0')
        p->pos++;
    else
        skip_digits(p);
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p)))
            return perr(p, start, "invalid number");
        skip_digits(p);
        *is_int = false;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!is_digit(peek(p)))
            return perr(p, start, "invalid number");
        skip_digits(p);
        *is_int = false;
    }
    if (is_path_char(peek(p)))
        return perr(p, start, "invalid number");
    return true;
}

/* A JSON number at p->pos; integers that fit in 64 bits stay integers. */
static bool parse_number(struct parser *p, json_t **out)
{
    size_t start = p->pos;
    bool is_int;
    if (!scan_number(p, &is_int))
        return false;
    char *text = xstrndup(p->s + start, p->pos - start);
    errno = 0;
    long long v = is_int ? strtoll(text, NULL, 10) : 0;
    if (is_int && errno == 0) {
        *out = json_integer(v);
    } else {
        double d = strtod(text, NULL);
        *out = isfinite(d) ? json_real(d) : NULL;
    }
    free(text);
    return *out ? true : perr(p, start, "number out of range");
}

/* compValue = false / null / true / number / string. */
static bool parse_value(struct parser *p, json_t **out)
{
    size_t at = p->pos;
    char c = peek(p), d[32];
    if (c == '"')
        return parse_string(p, out);
    if (c == '-' || is_digit(c))
        return parse_number(p, out);
    size_t n = word_len(p, at);
    if (n == 0)
        return perr(p, at, "missing value, found %s", char_desc(p, at, d, sizeof d));
    p->pos += n;
    if (n == 4 && strncasecmp(p->s + at, "true", 4) == 0)
        *out = json_true();
    else if (n == 5 && strncasecmp(p->s + at, "false", 5) == 0)
        *out = json_false();
    else if (n == 4 && strncasecmp(p->s + at, "null", 4) == 0)
        *out = json_null();
    else
        return perr(p, at, "invalid value \"%.*s\" (strings must be in double quotes)",
                    (int)(n > ECHO_MAX ? ECHO_MAX : n), p->s + at);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Comparison checks                                                        */
/* ------------------------------------------------------------------------ */

/* Rules that hold whatever the attribute: what each operator can compare. */
static bool check_value_kind(struct parser *p, const struct scim_filter *f, size_t at_op)
{
    const json_t *v = f->value;
    if (json_is_null(v) && f->op != SCIM_OP_EQ && f->op != SCIM_OP_NE)
        return perr(p, at_op, "operator \"%s\" cannot compare with null", op_name(f->op));
    if (op_is_substring(f->op) && !json_is_string(v))
        return perr(p, at_op, "operator \"%s\" needs a string value", op_name(f->op));
    if (op_is_ordering(f->op) && json_is_boolean(v))
        return perr(p, at_op, "operator \"%s\" cannot order booleans", op_name(f->op));
    return true;
}

/* A comparison without a sub-attribute on a complex attribute applies to its
 * "value" sub-attribute ("emails co \"example.com\"", RFC 7644 figure 2). */
static bool apply_implicit_value(struct parser *p, struct scim_filter *f, size_t at_op)
{
    const struct scim_attr *def = f->path.attr_def;
    if (f->op == SCIM_OP_PR || json_is_null(f->value))
        return true;
    const struct scim_attr *value = scim_attr_sub(def, "value");
    if (!value)
        return perr(p, at_op,
                    "complex attribute \"%s\" cannot be compared; name a "
                    "sub-attribute",
                    def->name);
    f->path.sub = xstrdup("value");
    f->path.sub_def = value;
    return true;
}

/* Parses an xsd:dateTime within the years 1 to 9999. */
static bool datetime_ms(const char *s, int64_t *ms)
{
    return util_parse_rfc3339(s, ms) && *ms >= FILTER_MIN_MS && *ms <= FILTER_MAX_MS;
}

static bool check_datetime(struct parser *p, const struct scim_filter *f,
                           const char *name, size_t at_op, size_t at_val)
{
    int64_t ms;
    if (op_is_substring(f->op))
        return perr(p, at_op,
                    "operator \"%s\" is not allowed on dateTime attribute \"%s\"",
                    op_name(f->op), name);
    if (!json_is_string(f->value) || !datetime_ms(json_string_value(f->value), &ms))
        return perr(p, at_val,
                    "attribute \"%s\" needs an xsd:dateTime string such as "
                    "\"2011-05-13T04:42:34Z\"",
                    name);
    return true;
}

/* Type rules of RFC 7644 section 3.4.2.2 for a known attribute. */
static bool check_typed(struct parser *p, const struct scim_filter *f,
                        const struct scim_attr *def, size_t at_op, size_t at_val)
{
    char name[2 * ECHO_MAX + 2];
    const json_t *v = f->value;
    enum scim_filter_op op = f->op;
    path_display(&f->path, name, sizeof name);
    if (op == SCIM_OP_PR || json_is_null(v))
        return true;
    switch (def->type) {
    case SCIM_TYPE_BINARY:
        if (op_is_ordering(op))
            return perr(p, at_op,
                        "operator \"%s\" is not allowed on binary attribute \"%s\"",
                        op_name(op), name);
        /* fall through */
    case SCIM_TYPE_STRING:
    case SCIM_TYPE_REFERENCE:
        if (!json_is_string(v))
            return perr(p, at_val, "attribute \"%s\" needs a string value", name);
        return true;
    case SCIM_TYPE_BOOLEAN:
        if (op != SCIM_OP_EQ && op != SCIM_OP_NE)
            return perr(p, at_op,
                        "operator \"%s\" is not allowed on boolean attribute \"%s\"",
                        op_name(op), name);
        if (!json_is_boolean(v))
            return perr(p, at_val, "attribute \"%s\" needs true or false", name);
        return true;
    case SCIM_TYPE_INTEGER:
    case SCIM_TYPE_DECIMAL:
        if (op_is_substring(op))
            return perr(p, at_op,
                        "operator \"%s\" is not allowed on numeric attribute \"%s\"",
                        op_name(op), name);
        if (def->type == SCIM_TYPE_INTEGER ? !json_is_integer(v) : !json_is_number(v))
            return perr(p, at_val, "attribute \"%s\" needs %s", name,
                        def->type == SCIM_TYPE_INTEGER ? "an integer" : "a number");
        return true;
    case SCIM_TYPE_DATETIME:
        return check_datetime(p, f, name, at_op, at_val);
    case SCIM_TYPE_COMPLEX:
        break;
    }
    return perr(p, at_op, "complex attribute \"%s\" cannot be compared", name);
}

/* Checks a comparison once its operator and value are known. */
static bool check_comparison(struct parser *p, struct scim_filter *f, size_t at_op,
                             size_t at_val)
{
    if (!check_value_kind(p, f, at_op))
        return false;
    const struct scim_attr *def = path_def(&f->path);
    if (!def)
        return true;
    if (def->type == SCIM_TYPE_COMPLEX) {
        if (!apply_implicit_value(p, f, at_op))
            return false;
        def = path_def(&f->path);
    }
    return check_typed(p, f, def, at_op, at_val);
}

/* ------------------------------------------------------------------------ */
/* Grammar                                                                  */
/* ------------------------------------------------------------------------ */

static bool parse_operator(struct parser *p, enum scim_filter_op *op)
{
    static const struct {
        const char *name;
        enum scim_filter_op op;
    } ops[] = {
        {"eq", SCIM_OP_EQ}, {"ne", SCIM_OP_NE}, {"co", SCIM_OP_CO}, {"sw", SCIM_OP_SW},
        {"ew", SCIM_OP_EW}, {"pr", SCIM_OP_PR}, {"gt", SCIM_OP_GT}, {"ge", SCIM_OP_GE},
        {"lt", SCIM_OP_LT}, {"le", SCIM_OP_LE},
    };
    size_t at = p->pos, n = word_len(p, at);
    char d[32];
    if (n == 0)
        return perr(p, at, "missing operator, found %s", char_desc(p, at, d, sizeof d));
    for (size_t i = 0; i < ARRAY_LEN(ops); i++)
        if (n == 2 && strncasecmp(p->s + at, ops[i].name, 2) == 0) {
            *op = ops[i].op;
            p->pos += n;
            return true;
        }
    return perr(p, at, "unknown operator \"%.*s\"", (int)(n > ECHO_MAX ? ECHO_MAX : n),
                p->s + at);
}

/* "SP compareOp SP compValue" or "SP pr" after the path of f. */
static bool parse_comparison(struct parser *p, struct scim_filter *f)
{
    char d[32];
    if (at_end(p))
        return perr(p, p->pos, "missing operator after the attribute path");
    if (!is_ws(peek(p)))
        return perr(p, p->pos, "unexpected %s after the attribute path",
                    char_desc(p, p->pos, d, sizeof d));
    skip_ws(p);
    size_t at_op = p->pos;
    if (!parse_operator(p, &f->op))
        return false;
    if (f->op == SCIM_OP_PR)
        return check_comparison(p, f, at_op, at_op);
    skip_ws(p);
    size_t at_val = p->pos;
    if (at_end(p))
        return perr(p, at_val, "missing value after \"%s\"", op_name(f->op));
    return parse_value(p, &f->value) && check_comparison(p, f, at_op, at_val);
}

/* "[" valFilter "]" after path; *inner receives the element filter. */
static bool parse_bracket(struct parser *p, const struct scim_attr_path *path,
                          struct scim_filter **inner)
{
    size_t open = p->pos;
    const struct scim_attr *def = path->attr_def;
    if (p->outer)
        return perr(p, open, "nested '[' is not allowed inside a value filter");
    if (path->sub)
        return perr(p, open, "'[' must follow an attribute, not a sub-attribute");
    if (def && def->type != SCIM_TYPE_COMPLEX)
        return perr(p, open, "attribute \"%s\" is not complex and cannot take a filter",
                    def->name);
    if (!enter(p, open))
        return false;
    p->pos++;
    p->outer = path;
    *inner = parse_or(p);
    p->outer = NULL;
    return *inner && expect_close(p, ']', open);
}

/* valuePath, and the "attr[filter].sub op value" form Microsoft Entra ID
 * sends, read as "attr[filter and sub op value]". */
static bool parse_value_path(struct parser *p, struct scim_filter *f)
{
    f->op = SCIM_OP_VALUE_PATH;
    if (!parse_bracket(p, &f->path, &f->left))
        return false;
    if (peek(p) != '.')
        return true;
    struct scim_filter *cmp = node_new(SCIM_OP_PR);
    struct scim_filter *both = node_new(SCIM_OP_AND);
    both->left = f->left;
    both->right = cmp;
    f->left = both;
    cmp->path.schema = f->path.schema;
    return parse_sub_after(p, &f->path, &cmp->path.attr, &cmp->path.attr_def) &&
           parse_comparison(p, cmp);
}

/* attrExp or valuePath. */
static struct scim_filter *parse_attr_exp(struct parser *p)
{
    size_t at = p->pos;
    struct scim_filter *f = node_new(SCIM_OP_PR);
    bool ok = parse_path_token(p, &f->path) && resolve_path(p, &f->path, at);
    if (ok)
        ok = peek(p) == '[' ? parse_value_path(p, f) : parse_comparison(p, f);
    if (ok)
        return f;
    scim_filter_free(f);
    return NULL;
}

/* "(" filter ")", with open at p->pos. */
static struct scim_filter *parse_group(struct parser *p)
{
    size_t open = p->pos;
    if (!enter(p, open))
        return NULL;
    p->pos++;
    struct scim_filter *f = parse_or(p);
    if (f && !expect_close(p, ')', open)) {
        scim_filter_free(f);
        return NULL;
    }
    return f;
}

/* A primary: group, "not" group, attrExp or valuePath. */
static struct scim_filter *parse_unary(struct parser *p)
{
    char d[32];
    skip_ws(p);
    char c = peek(p);
    if (c == '(')
        return parse_group(p);
    if (at_not(p)) {
        p->pos += 3;
        skip_ws(p);
        struct scim_filter *inner = parse_group(p);
        if (!inner)
            return NULL;
        struct scim_filter *f = node_new(SCIM_OP_NOT);
        f->left = inner;
        return f;
    }
    if (at_keyword(p, "not") && !not_is_attribute(p)) {
        perr(p, p->pos + 3, "expected '(' after \"not\"");
        return NULL;
    }
    if (at_end(p)) {
        perr(p, p->pos, "unexpected end of filter, expected an attribute");
        return NULL;
    }
    if (!is_name_start(c)) {
        perr(p, p->pos, "unexpected %s, expected an attribute",
             char_desc(p, p->pos, d, sizeof d));
        return NULL;
    }
    return parse_attr_exp(p);
}

/* Joins n >= 1 operands into a balanced tree so that long chains of "and" or
 * "or" stay shallow for the recursive evaluators. */
static struct scim_filter *build_balanced(enum scim_filter_op op, struct scim_filter **v,
                                          size_t n)
{
    if (n == 1)
        return v[0];
    struct scim_filter *f = node_new(op);
    f->left = build_balanced(op, v, n / 2);
    f->right = build_balanced(op, v + n / 2, n - n / 2);
    return f;
}

/* operand *(keyword operand) for keyword "and" or "or". */
static struct scim_filter *parse_chain(struct parser *p, const char *keyword,
                                       enum scim_filter_op op,
                                       struct scim_filter *(*operand)(struct parser *))
{
    struct scim_filter **v = NULL;
    size_t n = 0, cap = 0;
    struct scim_filter *f = operand(p);
    while (f) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n++] = f;
        size_t save = p->pos;
        skip_ws(p);
        if (!at_keyword(p, keyword)) {
            p->pos = save;
            break;
        }
        p->pos += strlen(keyword);
        f = operand(p);
    }
    struct scim_filter *out = f ? build_balanced(op, v, n) : NULL;
    for (size_t i = 0; !out && i < n; i++)
        scim_filter_free(v[i]);
    free(v);
    return out;
}

static struct scim_filter *parse_and(struct parser *p)
{
    return parse_chain(p, "and", SCIM_OP_AND, parse_unary);
}

static struct scim_filter *parse_or(struct parser *p)
{
    return parse_chain(p, "or", SCIM_OP_OR, parse_and);
}

/* Common start: the length limit and an empty input. */
static bool parser_init(struct parser *p, const char *text,
                        const struct scim_resource_type *rt, const char *scim_type,
                        const char *what, struct scim_error *err)
{
    memset(p, 0, sizeof *p);
    p->s = text ? text : "";
    p->len = strnlen(p->s, SCIM_FILTER_MAX_LEN + 1);
    p->rt = rt;
    p->scim_type = scim_type;
    p->err = err;
    if (p->len > SCIM_FILTER_MAX_LEN)
        return perr(p, SCIM_FILTER_MAX_LEN, "%s longer than %d bytes", what,
                    SCIM_FILTER_MAX_LEN);
    skip_ws(p);
    if (at_end(p))
        return perr(p, p->pos, "empty %s", what);
    p->pos = 0;
    return true;
}

/* Refuses anything after a complete expression. */
static bool expect_end(struct parser *p)
{
    char d[32];
    if (at_end(p))
        return true;
    char c = peek(p);
    if (c == ')' || c == ']')
        return perr(p, p->pos, "unbalanced '%c'", c);
    return perr(p, p->pos, "unexpected %s after the end of the expression",
                char_desc(p, p->pos, d, sizeof d));
}

struct scim_filter *scim_filter_parse(const char *text,
                                      const struct scim_resource_type *rt,
                                      struct scim_error *err)
{
    struct parser p;
    if (!parser_init(&p, text, rt, SCIM_TYPE_INVALID_FILTER, "filter", err))
        return NULL;
    struct scim_filter *f = parse_or(&p);
    if (!f)
        return NULL;
    skip_ws(&p);
    if (!expect_end(&p)) {
        scim_filter_free(f);
        return NULL;
    }
    return f;
}

/* ------------------------------------------------------------------------ */
/* PATCH paths                                                              */
/* ------------------------------------------------------------------------ */

static bool parse_patch_path(struct parser *p, struct scim_patch_path *out)
{
    if (!parse_path_token(p, &out->attr) || !resolve_path(p, &out->attr, 0))
        return false;
    if (peek(p) == '[') {
        if (!parse_bracket(p, &out->attr, &out->filter))
            return false;
        if (peek(p) == '.' &&
            !parse_sub_after(p, &out->attr, &out->sub_after, &out->sub_after_def))
            return false;
    }
    return expect_end(p);
}

bool scim_patch_path_parse(const char *text, const struct scim_resource_type *rt,
                           struct scim_patch_path *out, struct scim_error *err)
{
    struct parser p;
    memset(out, 0, sizeof *out);
    if (!parser_init(&p, text, rt, SCIM_TYPE_INVALID_PATH, "path", err))
        return false;
    if (parse_patch_path(&p, out))
        return true;
    scim_patch_path_clear(out);
    return false;
}

void scim_patch_path_clear(struct scim_patch_path *p)
{
    if (!p)
        return;
    path_clear(&p->attr);
    scim_filter_free(p->filter);
    free(p->sub_after);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------------ */
/* In-memory evaluation                                                     */
/* ------------------------------------------------------------------------ */

/* A member of obj by name, exact spelling first, then case-insensitively. */
static const json_t *get_ci(const json_t *obj, const char *key)
{
    if (!json_is_object(obj) || !key)
        return NULL;
    const json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)obj, k, x)
    {
        if (util_streq_ci(k, key))
            return x;
    }
    return NULL;
}

/* The object holding path's attribute: obj, or its extension object. */
static const json_t *path_holder(const struct scim_attr_path *path, const json_t *obj)
{
    return path->in_extension ? get_ci(obj, path_ext_key(path)) : obj;
}

typedef bool (*value_pred)(const json_t *v, const struct scim_filter *f);

/* pred over v, or over each element when v is an array. */
static bool any_flat(const json_t *v, value_pred pred, const struct scim_filter *f)
{
    size_t i;
    const json_t *e;
    if (!v)
        return false;
    if (!json_is_array(v))
        return pred(v, f);
    json_array_foreach(v, i, e)
    {
        if (pred(e, f))
            return true;
    }
    return false;
}

/* pred over the values of f's path in obj (see the top of this file). */
static bool any_value(const json_t *obj, const struct scim_filter *f, value_pred pred)
{
    size_t i;
    const json_t *e;
    const json_t *v = get_ci(path_holder(&f->path, obj), f->path.attr);
    if (!f->path.sub)
        return any_flat(v, pred, f);
    if (!json_is_array(v))
        return any_flat(get_ci(v, f->path.sub), pred, f);
    json_array_foreach(v, i, e)
    {
        if (any_flat(get_ci(e, f->path.sub), pred, f))
            return true;
    }
    return false;
}

static bool value_present(const json_t *v, const struct scim_filter *f)
{
    (void)f;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return v && !json_is_null(v);
}

static bool op_holds(enum scim_filter_op op, int cmp)
{
    switch (op) {
    case SCIM_OP_EQ:
        return cmp == 0;
    case SCIM_OP_NE:
        return cmp != 0;
    case SCIM_OP_GT:
        return cmp > 0;
    case SCIM_OP_GE:
        return cmp >= 0;
    case SCIM_OP_LT:
        return cmp < 0;
    case SCIM_OP_LE:
        return cmp <= 0;
    default:
        return false;
    }
}

static unsigned char fold(unsigned char c, bool ci)
{
    return ci && c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Byte-wise comparison of a[0..an) and b[0..bn), ASCII-folded when ci. */
static int str_cmp(const char *a, size_t an, const char *b, size_t bn, bool ci)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = fold((unsigned char)a[i], ci),
                      y = fold((unsigned char)b[i], ci);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return an == bn ? 0 : (an < bn ? -1 : 1);
}

static bool str_contains(const char *h, size_t hn, const char *n, size_t nn, bool ci)
{
    for (size_t i = 0; nn <= hn && i <= hn - nn; i++)
        if (str_cmp(h + i, nn, n, nn, ci) == 0)
            return true;
    return false;
}

static bool match_string(const json_t *v, const struct scim_filter *f,
                         const struct scim_attr *def)
{
    const char *a = json_string_value(v), *b = json_string_value(f->value);
    size_t an = json_string_length(v), bn = json_string_length(f->value);
    bool ci = !def_case_exact(def);
    switch (f->op) {
    case SCIM_OP_CO:
        return str_contains(a, an, b, bn, ci);
    case SCIM_OP_SW:
        return an >= bn && str_cmp(a, bn, b, bn, ci) == 0;
    case SCIM_OP_EW:
        return an >= bn && str_cmp(a + an - bn, bn, b, bn, ci) == 0;
    default:
        return op_holds(f->op, str_cmp(a, an, b, bn, ci));
    }
}

static bool match_datetime(const json_t *v, const struct scim_filter *f)
{
    int64_t a, b;
    if (!datetime_ms(json_string_value(v), &a) ||
        !datetime_ms(json_string_value(f->value), &b))
        return false;
    return op_holds(f->op, a < b ? -1 : a > b);
}

static bool match_number(const json_t *v, const struct scim_filter *f)
{
    if (op_is_substring(f->op))
        return false;
    if (json_is_integer(v) && json_is_integer(f->value)) {
        json_int_t a = json_integer_value(v), b = json_integer_value(f->value);
        return op_holds(f->op, a < b ? -1 : a > b);
    }
    double a = json_number_value(v), b = json_number_value(f->value);
    return op_holds(f->op, a < b ? -1 : a > b);
}

/* One value against a comparison; values of another JSON type never match. */
static bool value_matches(const json_t *v, const struct scim_filter *f)
{
    const struct scim_attr *def = path_def(&f->path);
    if (json_is_string(f->value) && json_is_string(v)) {
        if (def && def->type == SCIM_TYPE_DATETIME)
            return match_datetime(v, f);
        return match_string(v, f, def);
    }
    if (json_is_number(f->value) && json_is_number(v))
        return match_number(v, f);
    if (json_is_boolean(f->value) && json_is_boolean(v)) {
        bool same = json_is_true(v) == json_is_true(f->value);
        return f->op == SCIM_OP_EQ ? same : f->op == SCIM_OP_NE && !same;
    }
    return false;
}

static bool match_comparison(const struct scim_filter *f, const json_t *obj)
{
    if (f->op == SCIM_OP_PR)
        return any_value(obj, f, value_present);
    if (json_is_null(f->value)) {
        bool present = any_value(obj, f, value_present);
        return f->op == SCIM_OP_EQ ? !present : f->op == SCIM_OP_NE && present;
    }
    return any_value(obj, f, value_matches);
}

/* Some element of the attribute (or the attribute itself when it is not an
 * array) satisfies the element filter. */
static bool match_value_path(const struct scim_filter *f, const json_t *obj)
{
    size_t i;
    const json_t *e;
    const json_t *v = get_ci(path_holder(&f->path, obj), f->path.attr);
    if (!v)
        return false;
    if (!json_is_array(v))
        return match_node(f->left, v);
    json_array_foreach(v, i, e)
    {
        if (match_node(f->left, e))
            return true;
    }
    return false;
}

static bool match_node(const struct scim_filter *f, const json_t *obj)
{
    switch (f->op) {
    case SCIM_OP_AND:
        return match_node(f->left, obj) && match_node(f->right, obj);
    case SCIM_OP_OR:
        return match_node(f->left, obj) || match_node(f->right, obj);
    case SCIM_OP_NOT:
        return !match_node(f->left, obj);
    case SCIM_OP_VALUE_PATH:
        return match_value_path(f, obj);
    default:
        return match_comparison(f, obj);
    }
}

bool scim_filter_match(const struct scim_filter *f, const json_t *obj)
{
    return f && match_node(f, obj);
}

/* ------------------------------------------------------------------------ */
/* SQL: shared pieces                                                       */
/* ------------------------------------------------------------------------ */

struct sql_build {
    const struct scim_sql_map *map; /* columns and the document expression */
    struct scim_sql *out;           /* receives text and parameters */
    int first_param;                /* number of the first parameter added */
    size_t nparams0;                /* out->nparams before this compilation */
    int alias;                      /* last eN alias used for jsonb elements */
    struct scim_error *err;         /* receives the first error */
};

/* Where the paths of the node being compiled are relative to. */
struct sql_scope {
    const char *prefix; /* canonical attribute of an enclosing value path whose
                         * sub-attributes are columns, or NULL */
    const char *tpl;    /* EXISTS template already open for prefix, or NULL */
    const char *elem;   /* jsonb element an enclosing value path iterates, or NULL */
};

static bool sql_node(struct sql_build *b, const struct scim_filter *f,
                     const struct sql_scope *sc);

static bool sql_err(struct sql_build *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

static bool sql_err(struct sql_build *b, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return scim_error_set(b->err, 400, SCIM_TYPE_INVALID_FILTER, "%s", msg);
}

/* A SQL string literal; names reaching here contain no quotes, but double
 * them anyway. */
static void put_literal(struct strbuf *w, const char *s)
{
    strbuf_putc(w, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            strbuf_putc(w, '\'');
        strbuf_putc(w, *s);
    }
    strbuf_putc(w, '\'');
}

/* ."key" of a jsonpath, escaped for a jsonpath string. */
static void put_jsonpath_key(struct strbuf *jp, const char *key)
{
    strbuf_puts(jp, ".\"");
    for (; *key; key++) {
        if (*key == '"' || *key == '\\')
            strbuf_putc(jp, '\\');
        strbuf_putc(jp, *key);
    }
    strbuf_putc(jp, '"');
}

/* 'lax $."attr"[*]' or 'lax $."attr"[*]."sub"[*]': every value of the path,
 * arrays flattened one level, never an error whatever the document holds. */
static void put_jsonpath(struct strbuf *w, const char *attr, const char *sub)
{
    struct strbuf jp = {0};
    strbuf_puts(&jp, "lax $");
    put_jsonpath_key(&jp, attr);
    strbuf_puts(&jp, "[*]");
    if (sub) {
        put_jsonpath_key(&jp, sub);
        strbuf_puts(&jp, "[*]");
    }
    put_literal(w, jp.s);
    strbuf_clear(&jp);
}

/* The jsonb object holding path's attribute. */
static void put_doc_base(struct strbuf *w, const struct scim_sql_map *map,
                         const struct scim_attr_path *path, const char *elem)
{
    if (elem) {
        strbuf_puts(w, elem);
        return;
    }
    strbuf_puts(w, map->doc_expr);
    if (path->in_extension) {
        strbuf_puts(w, "->");
        put_literal(w, path_ext_key(path));
    }
}

/* "attr", "attr.sub", "urn:...:attr.sub" or "prefix.attr": how columns name it. */
static void column_key(const struct scim_attr_path *path, const char *prefix,
                       struct strbuf *k)
{
    if (prefix) {
        strbuf_puts(k, prefix);
        strbuf_putc(k, '.');
    } else if (path->in_extension) {
        strbuf_puts(k, path_ext_key(path));
        strbuf_putc(k, ':');
    }
    strbuf_puts(k, path_attr_name(path));
    if (path->sub) {
        strbuf_putc(k, '.');
        strbuf_puts(k, path_sub_name(path));
    }
}

static const struct scim_sql_column *find_column(const struct scim_sql_map *map,
                                                 const char *key)
{
    for (const struct scim_sql_column *c = map->columns; c && c->path; c++)
        if (util_streq_ci(c->path, key))
            return c;
    return NULL;
}

/* The next column after from (NULL: the first) whose path is under key. */
static const struct scim_sql_column *next_under(const struct scim_sql_map *map,
                                                const char *key,
                                                const struct scim_sql_column *from)
{
    size_t n = strlen(key);
    const struct scim_sql_column *c = from ? from + 1 : map->columns;
    for (; c && c->path; c++)
        if (strncasecmp(c->path, key, n) == 0 && c->path[n] == '.')
            return c;
    return NULL;
}

/* Attributes kept out of the stored document (see scim_schema.h): the
 * readOnly ones the server maintains (id, meta, groups) and password. */
static bool server_only(const struct scim_attr_path *path)
{
    const struct scim_attr *a = path->attr_def;
    if (path->in_extension)
        return false;
    if (a)
        return a->mutability == SCIM_MUT_READ_ONLY || a->returned == SCIM_RET_NEVER;
    return util_streq_ci(path->attr, "id") || util_streq_ci(path->attr, "meta") ||
           util_streq_ci(path->attr, "password");
}

/* A path whose attribute and sub-attribute are both known single-valued. */
static bool path_single(const struct scim_attr_path *path)
{
    const struct scim_attr *a = path->attr_def;
    if (!a || a->multi_valued)
        return false;
    return !path->sub || (path->sub_def && !path->sub_def->multi_valued);
}

/* Splits an EXISTS template at its "%s". */
static bool tpl_split(struct sql_build *b, const char *tpl, size_t *before,
                      const char **after)
{
    const char *m = strstr(tpl, "%s");
    if (!m)
        return scim_error_set(b->err, 500, NULL, "SQL map template without %%s");
    *before = (size_t)(m - tpl);
    *after = m + 2;
    return true;
}

/* ------------------------------------------------------------------------ */
/* SQL: comparisons                                                         */
/* ------------------------------------------------------------------------ */

static int add_param(struct sql_build *b, const char *text)
{
    struct scim_sql *o = b->out;
    o->params = xrealloc(o->params, (o->nparams + 1) * sizeof *o->params);
    o->params[o->nparams++] = xstrdup(text);
    return b->first_param + (int)(o->nparams - 1 - b->nparams0);
}

static const char *op_sql(enum scim_filter_op op)
{
    switch (op) {
    case SCIM_OP_EQ:
        return "=";
    case SCIM_OP_NE:
        return "<>";
    case SCIM_OP_GT:
        return ">";
    case SCIM_OP_GE:
        return ">=";
    case SCIM_OP_LT:
        return "<";
    default:
        return "<=";
    }
}

/* The LIKE pattern of co/sw/ew, with \, % and _ of the value escaped. */
static char *like_pattern(const char *s, enum scim_filter_op op)
{
    struct strbuf p = {0};
    if (op != SCIM_OP_SW)
        strbuf_putc(&p, '%');
    for (; *s; s++) {
        if (*s == '\\' || *s == '%' || *s == '_')
            strbuf_putc(&p, '\\');
        strbuf_putc(&p, *s);
    }
    if (op != SCIM_OP_EW)
        strbuf_putc(&p, '%');
    return strbuf_detach(&p);
}

/* A comparison of the text expression expr; lower() on both sides unless
 * case-exact, which keeps lower(column) indexes usable. */
static bool sql_text(struct sql_build *b, const char *expr, bool ci,
                     const struct scim_filter *f)
{
    struct strbuf *w = &b->out->where;
    char name[2 * ECHO_MAX + 2];
    if (f->op == SCIM_OP_PR) {
        strbuf_printf(w, "(%s IS NOT NULL AND %s <> '')", expr, expr);
        return true;
    }
    if (!json_is_string(f->value))
        return sql_err(b, "attribute \"%s\" needs a string value",
                       path_display(&f->path, name, sizeof name));
    const char *lo = ci ? "lower(" : "", *lc = ci ? ")" : "";
    if (op_is_substring(f->op)) {
        char *pattern = like_pattern(json_string_value(f->value), f->op);
        int n = add_param(b, pattern);
        free(pattern);
        strbuf_printf(w, "%s%s%s LIKE %s$%d%s ESCAPE '\\'", lo, expr, lc, lo, n, lc);
        return true;
    }
    int n = add_param(b, json_string_value(f->value));
    strbuf_printf(w, "%s%s%s%s %s %s$%d%s", lo, expr, lc,
                  op_is_ordering(f->op) ? " COLLATE \"C\"" : "", op_sql(f->op), lo, n,
                  lc);
    return true;
}

static bool sql_bool_column(struct sql_build *b, const char *expr,
                            const struct scim_filter *f)
{
    struct strbuf *w = &b->out->where;
    char name[2 * ECHO_MAX + 2];
    if (f->op == SCIM_OP_PR) {
        strbuf_printf(w, "%s IS NOT NULL", expr);
        return true;
    }
    if (!json_is_boolean(f->value) || (f->op != SCIM_OP_EQ && f->op != SCIM_OP_NE))
        return sql_err(b,
                       "attribute \"%s\" compares only with eq or ne and true or false",
                       path_display(&f->path, name, sizeof name));
    int n = add_param(b, json_is_true(f->value) ? "true" : "false");
    strbuf_printf(w, "%s %s $%d::boolean", expr, op_sql(f->op), n);
    return true;
}

static int ts_param(struct sql_build *b, int64_t ms)
{
    char buf[40];
    return add_param(b, util_format_rfc3339(ms, buf, sizeof buf));
}

/* Timestamps compare at the millisecond precision resources show: the stored
 * instant truncated to milliseconds against the value, written as ranges on
 * the column itself so that its index serves. */
static bool sql_ts_column(struct sql_build *b, const char *expr,
                          const struct scim_filter *f)
{
    struct strbuf *w = &b->out->where;
    char name[2 * ECHO_MAX + 2];
    int64_t ms;
    if (f->op == SCIM_OP_PR) {
        strbuf_printf(w, "%s IS NOT NULL", expr);
        return true;
    }
    if (op_is_substring(f->op) || !json_is_string(f->value) ||
        !datetime_ms(json_string_value(f->value), &ms))
        return sql_err(b, "attribute \"%s\" compares only with an xsd:dateTime string",
                       path_display(&f->path, name, sizeof name));
    if (f->op == SCIM_OP_EQ || f->op == SCIM_OP_NE) {
        bool eq = f->op == SCIM_OP_EQ;
        int lo = ts_param(b, ms), hi = ts_param(b, ms + 1);
        strbuf_printf(w, "(%s %s $%d::timestamptz %s %s %s $%d::timestamptz)", expr,
                      eq ? ">=" : "<", lo, eq ? "AND" : "OR", expr, eq ? "<" : ">=", hi);
        return true;
    }
    bool after = f->op == SCIM_OP_GT || f->op == SCIM_OP_LE;
    int n = ts_param(b, after ? ms + 1 : ms);
    bool lower_bound = f->op == SCIM_OP_GT || f->op == SCIM_OP_GE;
    strbuf_printf(w, "%s %s $%d::timestamptz", expr, lower_bound ? ">=" : "<", n);
    return true;
}

static bool sql_column(struct sql_build *b, const struct scim_sql_column *col,
                       const struct scim_filter *f, const struct sql_scope *sc)
{
    struct strbuf *w = &b->out->where;
    if (sc->tpl) {
        /* Inside the EXISTS of a value path: only its own inner columns. */
        if (col->kind != SCIM_SQL_EXISTS || strcmp(col->expr, sc->tpl) != 0)
            return sql_err(b, "filtering on \"%s\" inside [...] is not supported",
                           col->path);
        return sql_text(b, col->inner_expr, !col->case_exact, f);
    }
    switch (col->kind) {
    case SCIM_SQL_TEXT:
        return sql_text(b, col->expr, !col->case_exact, f);
    case SCIM_SQL_BOOL:
        return sql_bool_column(b, col->expr, f);
    case SCIM_SQL_TIMESTAMP:
        return sql_ts_column(b, col->expr, f);
    case SCIM_SQL_EXISTS:
        break;
    }
    size_t before = 0;
    const char *after = "";
    if (!tpl_split(b, col->expr, &before, &after))
        return false;
    strbuf_append(w, col->expr, before);
    bool ok = sql_text(b, col->inner_expr, !col->case_exact, f);
    strbuf_puts(w, after);
    return ok;
}

/* Whether an earlier column under key has the EXISTS template of c. */
static bool template_seen(const struct scim_sql_map *map, const char *key,
                          const struct scim_sql_column *c)
{
    for (const struct scim_sql_column *d = next_under(map, key, NULL); d != c;
         d = next_under(map, key, d))
        if (d->kind == SCIM_SQL_EXISTS && strcmp(d->expr, c->expr) == 0)
            return true;
    return false;
}

/* Presence of one column, or of a row of its EXISTS template. */
static bool sql_column_present(struct sql_build *b, const struct scim_sql_column *c)
{
    struct strbuf *w = &b->out->where;
    size_t before = 0;
    const char *after = "";
    if (c->kind != SCIM_SQL_EXISTS) {
        strbuf_printf(w, "%s IS NOT NULL", c->expr);
        return true;
    }
    if (!tpl_split(b, c->expr, &before, &after))
        return false;
    strbuf_append(w, c->expr, before);
    strbuf_puts(w, "TRUE");
    strbuf_puts(w, after);
    return true;
}

/* Presence of an attribute stored only in columns ("members pr"): any of
 * them present. */
static bool sql_under_columns(struct sql_build *b, const struct scim_filter *f,
                              const char *key)
{
    struct strbuf *w = &b->out->where;
    struct strbuf terms = {0};
    size_t n = 0;
    if (f->op != SCIM_OP_PR)
        return sql_err(b, "filtering on \"%s\" needs a sub-attribute", key);
    size_t start = w->len;
    for (const struct scim_sql_column *c = next_under(b->map, key, NULL); c;
         c = next_under(b->map, key, c)) {
        if (template_seen(b->map, key, c))
            continue;
        strbuf_puts(w, n++ ? " OR " : "");
        if (!sql_column_present(b, c))
            return false;
    }
    if (n > 1) {
        /* Wrap the terms just written in parentheses. */
        strbuf_append(&terms, w->s + start, w->len - start);
        w->len = start;
        w->s[start] = '\0';
        strbuf_printf(w, "(%s)", terms.s);
    }
    strbuf_clear(&terms);
    return true;
}

/* A comparison on jsonb value(s) j (text t) in the document. */
static bool sql_doc_cond(struct sql_build *b, const char *j, const char *t,
                         const struct scim_attr *def, const struct scim_filter *f,
                         bool guard)
{
    struct strbuf *w = &b->out->where;
    const json_t *v = f->value;
    char name[2 * ECHO_MAX + 2];
    path_display(&f->path, name, sizeof name);
    if (f->op == SCIM_OP_PR) {
        strbuf_printf(w, "%s NOT IN ('null', '\"\"', '[]', '{}')", j);
        return true;
    }
    if (def && def->type == SCIM_TYPE_DATETIME)
        return sql_err(b, "comparing dateTime attribute \"%s\" is not supported", name);
    if (json_is_string(v)) {
        if (guard)
            strbuf_printf(w, "(jsonb_typeof(%s) = 'string' AND ", j);
        bool ok = sql_text(b, t, !def_case_exact(def), f);
        strbuf_puts(w, guard ? ")" : "");
        return ok;
    }
    if (json_is_boolean(v)) {
        if (f->op != SCIM_OP_EQ && f->op != SCIM_OP_NE)
            return sql_err(b, "operator \"%s\" cannot compare booleans", op_name(f->op));
        /* "ne true" holds for a false value: both are equality with a boolean. */
        bool want = json_is_true(v) == (f->op == SCIM_OP_EQ);
        strbuf_printf(w, "%s = $%d::jsonb", j, add_param(b, want ? "true" : "false"));
        return true;
    }
    if (!json_is_number(v) || op_is_substring(f->op))
        return sql_err(b, "operator \"%s\" cannot compare \"%s\" with this value",
                       op_name(f->op), name);
    /* jansson's own rendering (reals with 17 significant digits), the form
     * documents are stored in, so that jsonb compares the same doubles as
     * scim_filter_match does. */
    char *num = json_dumps(v, JSON_ENCODE_ANY);
    int n = add_param(b, num);
    free(num);
    if (f->op == SCIM_OP_EQ)
        strbuf_printf(w, "%s = $%d::jsonb", j, n);
    else
        strbuf_printf(w, "(jsonb_typeof(%s) = 'number' AND %s %s $%d::jsonb)", j, j,
                      op_sql(f->op), n);
    return true;
}

/* A comparison on a path read from the jsonb document: -> / ->> for a known
 * single-valued path, otherwise EXISTS over the values jsonb_path_query
 * yields. */
static bool sql_doc(struct sql_build *b, const struct scim_filter *f,
                    const struct sql_scope *sc)
{
    struct strbuf *w = &b->out->where;
    const struct scim_attr_path *path = &f->path;
    const struct scim_attr *def = path_def(path);
    struct strbuf base = {0}, j = {0}, t = {0};
    bool ok;
    put_doc_base(&base, b->map, path, sc->elem);
    if (path_single(path)) {
        strbuf_puts(&j, base.s);
        strbuf_puts(&t, base.s);
        strbuf_puts(&j, "->");
        put_literal(&j, path_attr_name(path));
        strbuf_puts(&t, path->sub ? "->" : "->>");
        put_literal(&t, path_attr_name(path));
        if (path->sub) {
            strbuf_puts(&j, "->");
            put_literal(&j, path_sub_name(path));
            strbuf_puts(&t, "->>");
            put_literal(&t, path_sub_name(path));
        }
        ok = sql_doc_cond(b, j.s, t.s, def, f, false);
    } else {
        int a = ++b->alias;
        strbuf_printf(w, "EXISTS (SELECT 1 FROM jsonb_path_query(%s, ", base.s);
        put_jsonpath(w, path_attr_name(path), path->sub ? path_sub_name(path) : NULL);
        strbuf_printf(w, ") AS e%d(v) WHERE ", a);
        strbuf_printf(&j, "e%d.v", a);
        strbuf_printf(&t, "e%d.v #>> '{}'", a);
        ok = sql_doc_cond(b, j.s, t.s, def, f, def == NULL);
        strbuf_putc(w, ')');
    }
    strbuf_clear(&base);
    strbuf_clear(&j);
    strbuf_clear(&t);
    return ok;
}

static bool sql_compare(struct sql_build *b, const struct scim_filter *f,
                        const struct sql_scope *sc);

/* "eq null" is "not pr", "ne null" is "pr". */
static bool sql_null_test(struct sql_build *b, const struct scim_filter *f,
                          const struct sql_scope *sc)
{
    struct strbuf *w = &b->out->where;
    struct scim_filter pr = *f;
    pr.op = SCIM_OP_PR;
    pr.value = NULL;
    if (f->op == SCIM_OP_NE)
        return sql_compare(b, &pr, sc);
    strbuf_putc(w, '(');
    bool ok = sql_compare(b, &pr, sc);
    strbuf_puts(w, ") IS NOT TRUE");
    return ok;
}

/* A comparison or pr: a mapped column, then columns under the attribute,
 * then the document. */
static bool sql_compare(struct sql_build *b, const struct scim_filter *f,
                        const struct sql_scope *sc)
{
    if (json_is_null(f->value))
        return sql_null_test(b, f, sc);
    if (sc->elem)
        return sql_doc(b, f, sc);
    struct strbuf key = {0};
    column_key(&f->path, sc->prefix, &key);
    const struct scim_sql_column *col = find_column(b->map, key.s);
    bool ok;
    if (col)
        ok = sql_column(b, col, f, sc);
    else if (sc->prefix)
        ok = sql_err(b, "filtering on \"%s\" is not supported", key.s);
    else if (next_under(b->map, key.s, NULL))
        ok = sql_under_columns(b, f, key.s);
    else if (server_only(&f->path))
        ok = sql_err(b, "filtering on \"%s\" is not supported", key.s);
    else
        ok = sql_doc(b, f, sc);
    strbuf_clear(&key);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* SQL: value paths and logic                                               */
/* ------------------------------------------------------------------------ */

/* attr[filter] over columns: one EXISTS template around the element filter
 * (members), or the filter on the row's own columns (meta). */
static bool sql_value_path_columns(struct sql_build *b, const struct scim_filter *f,
                                   const char *key)
{
    struct strbuf *w = &b->out->where;
    const struct scim_sql_column *c = next_under(b->map, key, NULL);
    while (c && c->kind != SCIM_SQL_EXISTS)
        c = next_under(b->map, key, c);
    struct sql_scope in = {.prefix = key, .tpl = c ? c->expr : NULL};
    size_t before = 0;
    const char *after = "";
    if (c && !tpl_split(b, c->expr, &before, &after))
        return false;
    if (c)
        strbuf_append(w, c->expr, before);
    bool ok = sql_node(b, f->left, &in);
    strbuf_puts(w, after);
    return ok;
}

/* attr[filter] over the document: some value of attr satisfies filter. */
static bool sql_value_path_doc(struct sql_build *b, const struct scim_filter *f)
{
    struct strbuf *w = &b->out->where;
    struct strbuf base = {0};
    char elem[32];
    int a = ++b->alias;
    put_doc_base(&base, b->map, &f->path, NULL);
    strbuf_printf(w, "EXISTS (SELECT 1 FROM jsonb_path_query(%s, ", base.s);
    put_jsonpath(w, path_attr_name(&f->path), NULL);
    strbuf_printf(w, ") AS e%d(v) WHERE ", a);
    snprintf(elem, sizeof elem, "e%d.v", a);
    struct sql_scope in = {.elem = elem};
    bool ok = sql_node(b, f->left, &in);
    strbuf_putc(w, ')');
    strbuf_clear(&base);
    return ok;
}

static bool sql_value_path(struct sql_build *b, const struct scim_filter *f,
                           const struct sql_scope *sc)
{
    struct strbuf key = {0};
    bool ok;
    assert(!sc->elem && !sc->prefix); /* the parser refuses nested brackets */
    (void)sc;
    column_key(&f->path, NULL, &key);
    if (next_under(b->map, key.s, NULL))
        ok = sql_value_path_columns(b, f, key.s);
    else if (server_only(&f->path))
        ok = sql_err(b, "filtering on \"%s\" is not supported", key.s);
    else
        ok = sql_value_path_doc(b, f);
    strbuf_clear(&key);
    return ok;
}

/* Operands of a chain of one operator, without parentheses in between. */
static bool sql_chain(struct sql_build *b, const struct scim_filter *f,
                      enum scim_filter_op op, const struct sql_scope *sc)
{
    if (f->op != op)
        return sql_node(b, f, sc);
    if (!sql_chain(b, f->left, op, sc))
        return false;
    strbuf_puts(&b->out->where, op == SCIM_OP_AND ? " AND " : " OR ");
    return sql_chain(b, f->right, op, sc);
}

static bool sql_node(struct sql_build *b, const struct scim_filter *f,
                     const struct sql_scope *sc)
{
    struct strbuf *w = &b->out->where;
    bool ok;
    switch (f->op) {
    case SCIM_OP_AND:
    case SCIM_OP_OR:
        strbuf_putc(w, '(');
        ok = sql_chain(b, f, f->op, sc);
        strbuf_putc(w, ')');
        return ok;
    case SCIM_OP_NOT: {
        /* IS NOT TRUE: a comparison that is NULL (value missing) is false,
         * so its negation must be true, as in scim_filter_match. */
        bool group = f->left->op == SCIM_OP_AND || f->left->op == SCIM_OP_OR;
        strbuf_puts(w, group ? "" : "(");
        ok = sql_node(b, f->left, sc);
        strbuf_puts(w, group ? " IS NOT TRUE" : ") IS NOT TRUE");
        return ok;
    }
    case SCIM_OP_VALUE_PATH:
        return sql_value_path(b, f, sc);
    default:
        return sql_compare(b, f, sc);
    }
}

bool scim_filter_to_sql(const struct scim_filter *f, const struct scim_sql_map *map,
                        int first_param, struct scim_sql *out, struct scim_error *err)
{
    struct sql_build b = {.map = map,
                          .out = out,
                          .first_param = first_param,
                          .nparams0 = out->nparams,
                          .err = err};
    static const struct sql_scope top = {0};
    size_t len0 = out->where.len;
    if (!f)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_FILTER, "empty filter");
    if (sql_node(&b, f, &top))
        return true;
    if (out->where.s) {
        out->where.s[len0] = '\0';
        out->where.len = len0;
    }
    while (out->nparams > b.nparams0)
        free(out->params[--out->nparams]);
    return false;
}

void scim_sql_clear(struct scim_sql *sql)
{
    if (!sql)
        return;
    strbuf_clear(&sql->where);
    for (size_t i = 0; i < sql->nparams; i++)
        free(sql->params[i]);
    free(sql->params);
    sql->params = NULL;
    sql->nparams = 0;
}

/* ------------------------------------------------------------------------ */
/* SQL: sortBy                                                              */
/* ------------------------------------------------------------------------ */

static bool sort_err(struct scim_error *err, const char *what, const char *key)
{
    return scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "sorting by \"%.*s\" is %s",
                          2 * ECHO_MAX, key, what);
}

static bool is_text_type(const struct scim_attr *def)
{
    return def && (def->type == SCIM_TYPE_STRING || def->type == SCIM_TYPE_REFERENCE ||
                   def->type == SCIM_TYPE_BINARY || def->type == SCIM_TYPE_DATETIME);
}

static bool sort_folds_case(const struct scim_attr *def)
{
    return is_text_type(def) && def->type != SCIM_TYPE_DATETIME && !def_case_exact(def);
}

/* The sort key of a multi-valued attribute: its primary value, else the
 * first (RFC 7644 section 3.4.2.3). */
static void sort_multi(struct strbuf *out, const struct scim_sql_map *map,
                       const struct scim_attr_path *path)
{
    const struct scim_attr *def = path_def(path);
    bool ci = sort_folds_case(def);
    strbuf_puts(out, ci ? "(SELECT lower(e1.v" : "(SELECT e1.v");
    if (path->sub) {
        strbuf_puts(out, is_text_type(def) ? "->>" : "->");
        put_literal(out, path_sub_name(path));
    } else if (is_text_type(def)) {
        strbuf_puts(out, " #>> '{}'");
    }
    strbuf_puts(out, ci ? ") FROM jsonb_path_query(" : " FROM jsonb_path_query(");
    put_doc_base(out, map, path, NULL);
    strbuf_puts(out, ", ");
    put_jsonpath(out, path_attr_name(path), NULL);
    strbuf_puts(out, ") WITH ORDINALITY AS e1(v, n) ORDER BY (e1.v->'primary' = 'true') "
                     "IS TRUE DESC, e1.n LIMIT 1)");
}

/* The sort key of a single-valued (or unknown) path in the document. */
static void sort_single(struct strbuf *out, const struct scim_sql_map *map,
                        const struct scim_attr_path *path)
{
    const struct scim_attr *def = path_def(path);
    bool text = is_text_type(def), ci = sort_folds_case(def);
    strbuf_puts(out, ci ? "lower(" : "");
    put_doc_base(out, map, path, NULL);
    strbuf_puts(out, text && !path->sub ? "->>" : "->");
    put_literal(out, path_attr_name(path));
    if (path->sub) {
        strbuf_puts(out, text ? "->>" : "->");
        put_literal(out, path_sub_name(path));
    }
    strbuf_puts(out, ci ? ")" : "");
}

static bool sort_column(const struct scim_sql_column *col, struct strbuf *out,
                        struct scim_error *err)
{
    if (col->kind == SCIM_SQL_EXISTS)
        return sort_err(err, "not supported", col->path);
    if (col->kind == SCIM_SQL_TEXT && !col->case_exact)
        strbuf_printf(out, "lower(%s)", col->expr);
    else
        strbuf_puts(out, col->expr);
    return true;
}

static bool sort_expr(const struct scim_sql_map *map, struct scim_attr_path *path,
                      struct strbuf *out, struct scim_error *err)
{
    const struct scim_attr *def = path_def(path);
    if (def && def->type == SCIM_TYPE_COMPLEX) {
        path->sub_def = scim_attr_sub(def, "value");
        if (!path->sub_def)
            return sort_err(err, "not possible: name a sub-attribute", path->attr);
        path->sub = xstrdup("value");
    }
    struct strbuf key = {0};
    column_key(path, NULL, &key);
    const struct scim_sql_column *col = find_column(map, key.s);
    bool ok = true;
    if (col)
        ok = sort_column(col, out, err);
    else if (next_under(map, key.s, NULL) || server_only(path))
        ok = sort_err(err, "not supported", key.s);
    else if (path->attr_def && !path_single(path))
        sort_multi(out, map, path);
    else
        sort_single(out, map, path);
    strbuf_clear(&key);
    return ok;
}

bool scim_filter_sort_sql(const char *sort_by, const struct scim_sql_map *map,
                          struct strbuf *out, struct scim_error *err)
{
    struct parser p;
    struct scim_attr_path path = {0};
    if (!parser_init(&p, sort_by, map->rt, SCIM_TYPE_INVALID_PATH, "sortBy", err))
        return false;
    bool ok = parse_path_token(&p, &path) && resolve_path(&p, &path, 0) &&
              expect_end(&p) && sort_expr(map, &path, out, err);
    path_clear(&path);
    return ok;
}
