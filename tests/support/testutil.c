/*
 * testutil.c - fixture loading for the test suites.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

char *tu_read_fixture(const char *rel, size_t *len_out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FIXTURES_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        util_fatal("cannot open fixture %s", path);
    struct strbuf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        strbuf_append(&b, chunk, n);
    fclose(f);
    if (len_out)
        *len_out = b.len;
    return strbuf_detach(&b);
}

json_t *tu_load_json_fixture(const char *rel)
{
    size_t len;
    char *text = tu_read_fixture(rel, &len);
    json_error_t e;
    json_t *doc = json_loadb(text, len, 0, &e);
    if (!doc)
        util_fatal("fixture %s: %s at line %d", rel, e.text, e.line);
    free(text);
    return doc;
}

json_t *tu_json(const char *text)
{
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    if (!doc)
        util_fatal("bad JSON in test: %s (%s)", e.text, text);
    return doc;
}

int tu_json_equal(const json_t *a, const json_t *b)
{
    return json_equal(a, b);
}
