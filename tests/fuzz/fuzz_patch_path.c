/*
 * fuzz_patch_path.c - libFuzzer target for PATCH paths: parses the input as a
 * path for Users, Groups and untyped, and evaluates a [filter] against each
 * element of fixed multi-valued attributes, as the PATCH engine does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scim_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char elements_text[] =
    "[{\"value\":\"bjensen@example.com\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"usr_2\",\"type\":\"User\",\"display\":\"Babs\"},"
    "{\"type\":\"other\",\"value\":\"\"},{\"streetAddress\":\"1 Main\",\"number\":4},"
    "\"bare\",null,[1,2],{}]";

static void run(const char *text, const struct scim_resource_type *rt,
                const json_t *elems)
{
    struct scim_error err = {0};
    struct scim_patch_path p;
    if (!scim_patch_path_parse(text, rt, &p, &err)) {
        if (err.status != 400 || !err.type ||
            strcmp(err.type, SCIM_TYPE_INVALID_PATH) != 0 || p.filter || p.attr.attr ||
            p.sub_after)
            abort();
        return;
    }
    if (!p.attr.attr || (p.sub_after && !p.filter))
        abort();
    size_t i;
    const json_t *e;
    json_array_foreach(elems, i, e)
    {
        (void)scim_filter_match(p.filter, e);
    }
    scim_patch_path_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *elems;
    if (!elems)
        elems = json_loads(elements_text, 0, NULL);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    run(text, &scim_rt_user, elems);
    run(text, &scim_rt_group, elems);
    run(text, NULL, elems);
    free(text);
    return 0;
}
