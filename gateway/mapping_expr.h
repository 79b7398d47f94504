/*
 * mapping_expr.h - the expression language of attribute mappings: a SCIM
 * path or a string literal piped through filters, compiled once when an
 * organization saves its mapping and evaluated against a stored SCIM user on
 * every write. Parsing reports the first problem with its position;
 * evaluation cannot fail (what is missing is null).
 *
 * Grammar (whitespace is allowed around every token outside a path):
 *
 *   expression = term *( "|" filter )
 *   term       = path / string
 *   path       = [ urn ":" ] step *( "." step )
 *   step       = name [ "[" ( index / conditions ) "]" ]
 *   name       = ( ALPHA / "$" ) *( ALPHA / DIGIT / "_" / "-" )
 *   index      = 1*6DIGIT                              ; 0-based
 *   conditions = condition *( ( "and" / "or" ) condition ) ; "and" binds tighter
 *   condition  = name "pr" / name op literal
 *   op         = "eq" / "ne" / "co" / "sw" / "ew"      ; any case
 *   literal    = string / number / "true" / "false" / "null"
 *   string     = DQUOTE *( char / "\" DQUOTE / "\\" ) DQUOTE
 *   filter     = "downcase" / "upcase" / "strip"
 *              / "replace" ":" string "," string
 *              / "default" ":" string
 *              / "map" ":" arm *( "," arm )
 *   arm        = ( string / "*" ) "=>" string           ; "*" only as the last arm
 *
 * Paths (evaluated against the stored document, scim_schema.h):
 *   - names match case-insensitively; a URN prefix reads the extension object
 *     stored under that URN (the core User URN reads the document itself);
 *     "groups" as the first step reads the rendered groups array.
 *   - a multi-valued attribute without a selector yields all its values,
 *     elements with "primary": true first; the result is then a list.
 *     "[n]" picks the n-th element (0-based) and "[conditions]" the first
 *     element that matches (primary first); either yields at most one value.
 *   - a path that ends on a complex value reads its "value" sub-attribute
 *     (so "emails" is the list of addresses and "...:User:manager" the
 *     manager's id); objects without one, nested arrays and nulls are missing.
 *   - conditions compare texts case-insensitively and numbers numerically;
 *     a boolean equals its text ("True" as Entra sends it); "eq null" holds
 *     for an absent, null or empty attribute; co, sw and ew take a string. A
 *     condition on a simple multi-valued attribute names the element "value".
 *   - a selector on a value that is not an array: "[n]" finds nothing,
 *     "[conditions]" tests the value itself.
 *   - null and "" count as missing: a missing value is null, never an error.
 *
 * Filters apply to each value of the list, left to right; on a missing value
 * they yield missing, except default:
 *   downcase, upcase  Unicode simple case mapping for ASCII, Latin-1, Latin
 *                     Extended-A, Greek and Cyrillic; other characters stay.
 *   strip             removes leading and trailing white space (ASCII, NBSP).
 *   replace: a, b     replaces every occurrence of a (non-empty, exact case)
 *                     by b; a result never exceeds max(4 KiB, its input).
 *   default: x        when there is no value, the value x.
 *   map: a => x, ...  the x of the first arm (in the order written) whose a
 *                     equals one of the values, case-insensitively; "* => x"
 *                     matches any value; no match is missing. The result is
 *                     one value, so "groups.display | map: ..." turns group
 *                     membership into a role with the arms as priority order.
 * Non-string scalars (numbers, booleans) pass through unchanged unless a
 * filter reads them, which sees their JSON text ("true", "42").
 *
 * Limits: names up to 128 bytes, 8 steps per path, 8 conditions per selector,
 * 16 filters, 32 arms per map, and MAPPING_EXPR_MAX_LEN below.
 *
 * Pure: no I/O. A compiled expression is immutable and may be shared.
 */
#ifndef SCIMGATE_MAPPING_EXPR_H
#define SCIMGATE_MAPPING_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* Expressions longer than this many bytes, as written or normalised, are
 * refused. */
#define MAPPING_EXPR_MAX_LEN 1024
/* A list result keeps at most this many values (the first ones). */
#define MAPPING_EXPR_MAX_VALUES 1000

struct mapping_expr;

/* Where and why parsing stopped. */
struct mapping_expr_error {
    size_t position;   /* 1-based character (code point) position in the text */
    char message[160]; /* what is wrong there, without the position */
};

/* Compiles the len bytes at text. Returns a new expression (free with
 * mapping_expr_free), or NULL with err filled when the text is not an
 * expression: invalid UTF-8, NUL bytes and texts over MAPPING_EXPR_MAX_LEN
 * bytes, before or after normalisation (mapping_expr_print), are refused too. */
struct mapping_expr *mapping_expr_parse(const char *text, size_t len,
                                        struct mapping_expr_error *err) MUSTCHECK;
/* Frees e; NULL is allowed. */
void mapping_expr_free(struct mapping_expr *e);

/* Appends the normalised text of e to out: single spaces around "|", after
 * ":" and ",", around "=>"; operators and filter names in lower case. Parsing
 * the normalised text gives the same expression. */
void mapping_expr_print(const struct mapping_expr *e, struct strbuf *out);
/* True when e reads the groups array (callers may then need to load it). */
bool mapping_expr_uses_groups(const struct mapping_expr *e);

/* Evaluates e against a stored SCIM user document and its rendered groups
 * (both borrowed; either may be NULL or of any JSON type). Returns a new
 * reference: JSON null when missing, a string or other scalar, or, when the
 * path went through a multi-valued attribute without a selector and no map
 * filter reduced it, an array of scalars (possibly empty). Never fails. */
json_t *mapping_expr_eval(const struct mapping_expr *e, const json_t *doc,
                          const json_t *groups);
/* Like mapping_expr_eval, reduced to one text for a string field: the first
 * value of a list, numbers and booleans as their JSON text. Returns a new
 * reference to a non-empty string or to JSON null. */
json_t *mapping_expr_eval_text(const struct mapping_expr *e, const json_t *doc,
                               const json_t *groups);

#endif
